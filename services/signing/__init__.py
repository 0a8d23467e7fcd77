"""signing: leaders' approval and digital signatures (chữ ký số)."""
