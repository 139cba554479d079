"""``voicebot bench``: response latency and capacity, against pipecat's stock pipeline."""
