"""Help (5.2.1-d): the FAQ page and the contextual help beside each form (issue 9 §6)."""
