"""Dialer workers: turn queued callbacks into calls, never dialing one attempt twice.

``queue`` (arq jobs in Redis), ``ledger`` (the truth, in SQL), ``limits`` (shared
rate and concurrency caps), ``carrier`` (Twilio's REST side), ``jobs`` (what a
worker does) and ``worker`` (the arq worker ``voicebot worker`` runs).
"""
