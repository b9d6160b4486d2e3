"""Long-context tasks and the training of chapter 01's tiny LMs on them: the passkey retrieval
task of chapter 01 (RULER joins in chapter 02). The models come from ``course_lib.attention``;
nothing there imports from here."""
