"""CSV import and export of people and of accounts: upload, preview, confirm; download."""
