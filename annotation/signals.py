"""Domain events other packages react to, without annotation importing them (design.md §1).

Handlers run inside the caller's transaction, so what they write commits or rolls back with it.
"""
from blinker import Namespace

_signals = Namespace()

#: sender=job, slots=int — the job now wants this many more answers (publish, or items added while open).
slots_opened = _signals.signal("slots-opened")
#: sender=job — the job closed; nothing more will be answered.
job_closed = _signals.signal("job-closed")
#: sender=answer — consensus accepted or rejected this answer.
answer_decided = _signals.signal("answer-decided")
