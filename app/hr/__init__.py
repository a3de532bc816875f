"""Signed HR events under /api/v1/hr: terminations and changes of last day."""
