"""Background processes: the scheduler, the outbox relay, the Kafka dispatcher and RQ jobs.

Each is a thin caller of the booking engine.
"""
