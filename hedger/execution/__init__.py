"""Everything that writes to a chain lives here: signer, nonces, sender, journal, order flows."""
