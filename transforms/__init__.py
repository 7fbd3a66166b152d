"""Pure DataFrame -> DataFrame functions of the state-of-ai pipeline (no reads or writes)."""
