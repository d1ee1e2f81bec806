"""Domain-free transforms of (time, ...) feature tensors, shared by every domain."""
