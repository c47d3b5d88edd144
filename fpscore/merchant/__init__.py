"""The merchant side: FPS client, orders and instruments, flows with role checks, audit of every call."""
