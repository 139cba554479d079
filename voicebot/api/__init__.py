"""The callbacks API the wallet's backend uses to ask for calls (``/v1``)."""
