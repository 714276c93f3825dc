"""A pipeline package whose module fails to import (for the CLI's error messages)."""
