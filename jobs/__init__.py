"""The worker process: periodic jobs that act on check-ins stored in the database."""
