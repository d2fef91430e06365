"""Running the bank on several machines: app nodes behind a load balancer."""
