"""One module per REST dialect the proxy speaks."""
