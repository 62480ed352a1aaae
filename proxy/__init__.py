"""The proxy role: the REST surfaces, translated onto the cluster over gRPC."""
