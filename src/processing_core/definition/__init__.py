"""The definition side: what authors write and what gets validated at build time."""
