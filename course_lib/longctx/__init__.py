"""Long-context tasks: the passkey retrieval task of chapter 01 (RULER joins in chapter 02)."""
