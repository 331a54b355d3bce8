"""Use cases: one function per thing a user does, calling annotation, then settlement, in the
caller's transaction (Indico's operations). Pages, the JSON API, the CLI, background jobs and tests
all call these — never the domain services one by one — so nothing that decides work or moves
money can be skipped by an entry point. Operations flush; the request, command or worker commits.

Every operation that writes a job's row and moves money takes the job's budget lock first (the
lock order of rewards/escrow.py), so no two of them can deadlock.
"""
