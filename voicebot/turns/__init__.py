"""Turn-taking: when the bot may answer, barge in, or wait (pure; adapters in pipeline)."""
