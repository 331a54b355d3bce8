"""Domain events other packages react to, without annotation importing them (design.md §1).

Handlers run inside the caller's transaction, so what they write commits or rolls back with it.
"""
from blinker import Namespace

_signals = Namespace()

#: sender=job, slots=int — the job now wants this many more answers (publish, or items added while open).
slots_opened = _signals.signal("slots-opened")
#: sender=job — the job closed; nothing more will be answered.
job_closed = _signals.signal("job-closed")
#: sender=job, answers=list — consensus accepted or rejected these answers (one batch per decision,
#: so a listener can prepare everything it needs before it takes any lock).
answers_decided = _signals.signal("answers-decided")
#: sender=job — a job's terms (reward, time per answer) were set at create or publish; a listener
#: may refuse them by raising (rewards enforces the hourly pay floor here).
job_terms_set = _signals.signal("job-terms-set")
#: sender=job — a paused job is about to serve tasks again; a listener may refuse by raising
#: (rewards checks that its budget still covers what it may pay).
job_resuming = _signals.signal("job-resuming")
