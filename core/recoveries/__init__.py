"""待遇追回: settlements paid during a renewal that then failed, and what became of each."""
