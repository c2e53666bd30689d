"""The worker side: agent, task controllers, executors."""
