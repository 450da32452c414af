"""VideoQA tasks (multiple choice, open-ended). Importing this package registers them."""
