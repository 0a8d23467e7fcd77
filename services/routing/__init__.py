"""routing: delivery of signed documents to recipient agencies' inboxes."""
