"""Per-node overlay networking: sandboxes, VXLAN, DNS, VIP load balancing, routing mesh."""
