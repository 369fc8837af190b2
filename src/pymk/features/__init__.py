"""Point-in-time features: a snapshot of the interaction stream as of a time ``t`` and pair features on it."""
