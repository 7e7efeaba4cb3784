"""Media library: scanning, naming and the generated demo library."""
