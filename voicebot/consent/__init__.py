"""Who may be called, when and how often: the consent registry and the dialing gate."""
