"""docs: registration of documents and their files (văn bản đi, văn bản đến)."""
