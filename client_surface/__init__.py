"""client_surface package."""
