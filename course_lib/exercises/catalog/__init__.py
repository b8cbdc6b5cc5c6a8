"""One module per topic, each registering that topic's exercises (imported on first lookup)."""
