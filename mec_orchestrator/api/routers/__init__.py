"""One router per ETSI API, each a thin translation between ETSI shapes and resources."""
