"""Record model, validation, guard, enrichment and gap detection: pure functions over records."""
