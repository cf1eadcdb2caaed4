"""Everything that talks to a chain: toolchain, compiler, local Anvil nodes, connections, batching."""
