"""DNS collection: one resolver per run, over the network or from zone files."""
