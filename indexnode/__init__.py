"""The index node role: a stateless worker that builds faiss indexes for sealed segments."""
