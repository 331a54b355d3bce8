"""The ledger under random sequences of everything money does, on SQLite and PostgreSQL.

Hypothesis drives a state machine through deposits and credits (some replayed, some replayed
with other amounts), jobs published with and without the money, answers from several annotators
(labels steer consensus to accept or reject; slow answers trip the pay floor's top-ups), bonuses
from escrow or balance (some too large), holds released at a moving clock, disputes opened and
decided, payouts reserved, completed or failed, jobs resumed and closed. Every rule checks what
it expected to move against what the ledger recorded; after every step the books are audited:

- every transfer's entries sum to zero, and so do all balances;
- every stored balance equals the sum of its entries;
- only the treasury and deposits clearing are ever below zero;
- per job, what left the escrow never exceeds what was reserved into it, a published job's
  escrow covers every slot it may still pay, and a closed job keeps only what it owes;
- every accepted answer is paid exactly once, a rejected one never (or reversed by a dispute);
- a worker's pending balance is exactly their held and disputed holds;
- replaying every transfer already posted, with the same legs, changes nothing.

Each hypothesis example starts from empty tables (conftest's truncate helper).
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from annotation.errors import Conflict
from annotation.models import Answer, AnswerStatus, Job, JobStatus
from annotation.tasks import next_task_for
from app.extensions import utcnow
from app.identity.models import User
from app.operations.jobs import close_job, publish_job, resume_job
from app.operations.tasks import submit_answer
from rewards.bonuses import pay_bonus
from rewards.disputes import dispute_answer, resolve_dispute
from rewards.errors import InsufficientFunds, RewardsConflict, TransferConflict
from rewards.escrow import escrow_needs, publish_cost
from rewards.funding import credit_deposit, credit_requester
from rewards.holds import release_holds
from rewards.ledger import TransferSpec, post_transfers
from rewards.models import Hold, HoldStatus, JobBudget, LedgerAccount, LedgerEntry, LedgerTransfer
from rewards.payouts import complete_payout, fail_payout, reserve_payout

from conftest import _truncate_all, choices_result

TOKEN = "FLT"
MAX_EXAMPLES = int(os.environ.get("LEDGER_STATEFUL_EXAMPLES", "30"))
STEPS = int(os.environ.get("LEDGER_STATEFUL_STEPS", "30"))
# Kinds of transfer that touch a job's escrow, and the sign each leaves on it.
INTO_ESCROW = {"job_funding", "floor_reserve", "dispute_upheld"}
OUT_OF_ESCROW = {"reward", "floor_topup", "bonus", "refund"}
NEGATIVE_ALLOWED = {"treasury", "deposits_clearing"}
_keys = itertools.count(1)
# Turns of (annotator, label, seconds taken): mostly agreeing, so consensus both accepts and
# rejects; 400 s answers push the measured time under the pay floor (top-ups, paused jobs).
TURNS = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["positive", "positive", "negative"]),
                           st.sampled_from([2, 30, 400])), min_size=1, max_size=8)


OUTCOMES: Counter[str] = Counter()  # which branches the run took, printed at the end


def note(outcome: str) -> None:
    OUTCOMES[outcome] += 1


def _pick(items, index):
    items = list(items)
    return items[index % len(items)]


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, db, make_user, make_job):
        super().__init__()
        self.db, self.make_job = db, make_job
        db.session.remove()
        _truncate_all()
        self.requester_ids = [make_user("requester").id for _ in range(2)]
        self.worker_ids = [make_user("annotator").id for _ in range(4)]
        self.admin_id = make_user("admin").id
        self.job_ids: list[int] = []
        self.credits: dict[str, tuple[str, int, int]] = {}  # key → (how, user id, amount)
        self.bonuses: dict[str, dict] = {}  # key → the pay_bonus arguments
        self.payouts: dict[str, tuple[int, int, str]] = {}  # key → (worker, amount, state)
        self.earned = False  # some worker was credited: releases and payouts have work to do

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def session(self):
        return self.db.session

    def user(self, user_id: int) -> User:
        return self.session.get(User, user_id)

    def job(self, job_id: int) -> Job:
        return self.session.get(Job, job_id)

    def balance(self, code: str) -> int:
        return self.session.scalar(
            self.db.select(LedgerAccount.balance).where(LedgerAccount.code == code)) or 0

    def snapshot(self) -> tuple:
        """Everything the ledger and the hold schedule hold, to prove a step changed nothing."""
        balances = tuple(self.session.execute(
            self.db.select(LedgerAccount.code, LedgerAccount.balance).order_by(LedgerAccount.id)).all())
        transfers = tuple(self.session.scalars(
            self.db.select(LedgerTransfer.key).order_by(LedgerTransfer.id)).all())
        holds = tuple(self.session.execute(
            self.db.select(Hold.key, Hold.status).order_by(Hold.id)).all())
        return balances, transfers, holds

    def last_transfer_id(self) -> int:
        return self.session.scalar(self.db.select(self.db.func.max(LedgerTransfer.id))) or 0

    def transfers_since(self, transfer_id: int) -> list[tuple[str, str, dict[str, int]]]:
        """(key, kind, {account code: amount}) of every transfer posted after `transfer_id`."""
        rows = self.session.execute(
            self.db.select(LedgerTransfer.id, LedgerTransfer.key, LedgerTransfer.kind,
                           LedgerAccount.code, LedgerEntry.amount)
            .join(LedgerEntry, LedgerEntry.transfer_id == LedgerTransfer.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerTransfer.id > transfer_id).order_by(LedgerTransfer.id, LedgerEntry.id)).all()
        out: dict[int, tuple[str, str, dict[str, int]]] = {}
        for tid, key, kind, code, amount in rows:
            out.setdefault(tid, (key, kind, {}))[2][code] = amount
        return list(out.values())

    def refused(self, before: tuple, exc_type, call) -> None:
        """`call` raises `exc_type`; once rolled back, nothing at all has changed."""
        with pytest.raises(exc_type):
            call()
        self.session.rollback()
        assert self.snapshot() == before

    # --- funding ---------------------------------------------------------------------------------

    @rule(who=st.integers(0, 1), amount=st.integers(1, 1500), how=st.sampled_from(["credit", "deposit"]))
    def fund_requester(self, who, amount, how):
        user = self.user(self.requester_ids[who])
        key = f"k{next(_keys)}"
        since, before = self.last_transfer_id(), self.balance(f"{TOKEN}:requester:{user.id}")
        if how == "credit":
            credit_requester(user, amount, key=key)
            ledger_key, source = f"credit:{key}", f"{TOKEN}:treasury"
        else:
            credit_deposit(user, amount, source=key)
            ledger_key, source = f"deposit:{key}", f"{TOKEN}:deposits:clearing"
        self.session.commit()
        self.credits[key] = (how, user.id, amount)
        posted = self.transfers_since(since)
        assert posted[0] == (ledger_key, how, {source: -amount, f"{TOKEN}:requester:{user.id}": amount})
        # New money first pays the pay-floor top-ups this requester's jobs owe; nothing else moves.
        assert {kind for _, kind, _ in posted[1:]} <= {"floor_reserve", "floor_topup"}
        refills = sum(legs.get(f"{TOKEN}:requester:{user.id}", 0) for _, _, legs in posted[1:])
        assert self.balance(f"{TOKEN}:requester:{user.id}") == before + amount + refills

    @precondition(lambda self: self.credits)
    @rule(index=st.integers(0, 10**6), other_amount=st.booleans())
    def replay_funding(self, index, other_amount):
        key = _pick(self.credits, index)
        how, user_id, amount = self.credits[key]
        user, before = self.user(user_id), self.snapshot()
        fund = credit_requester if how == "credit" else credit_deposit
        kwargs = {"key": key} if how == "credit" else {"source": key}
        if other_amount:
            self.refused(before, TransferConflict, lambda: fund(user, amount + 1, **kwargs))
        else:
            since = self.last_transfer_id()
            fund(user, amount, **kwargs)
            self.session.commit()
            # The credit is not posted again; like any credit it may pay top-ups owed since.
            assert {kind for _, kind, _ in self.transfers_since(since)} <= {"floor_reserve", "floor_topup"}
            assert self.session.scalar(self.db.select(self.db.func.count()).select_from(LedgerTransfer)
                                       .where(LedgerTransfer.key == f"{how}:{key}")) == 1

    # --- jobs ------------------------------------------------------------------------------------

    @rule(who=st.integers(0, 1), n_items=st.integers(1, 4), overlap=st.integers(1, 3),
          reward=st.sampled_from([10, 15, 25, 40]), top_up_first=st.booleans())
    def publish(self, who, n_items, overlap, reward, top_up_first):
        owner = self.user(self.requester_ids[who])
        job = self.make_job(owner, n_items=n_items, overlap=overlap, reward=reward, publish=False,
                            fund=False, aggregation="majority_vote")
        self.job_ids.append(job.id)
        cost = publish_cost(job)
        missing = cost - self.balance(f"{TOKEN}:requester:{owner.id}")
        if top_up_first and missing > 0:  # the requester adds what publishing needs
            key = f"k{next(_keys)}"
            credit_requester(owner, missing, key=key)
            self.session.commit()
            self.credits[key] = ("credit", owner.id, missing)
        balance = self.balance(f"{TOKEN}:requester:{owner.id}")
        since, before = self.last_transfer_id(), self.snapshot()
        if balance < cost:
            note("publish: refused")
            self.refused(before, InsufficientFunds, lambda: publish_job(owner, job))
            assert self.job(job.id).status is JobStatus.DRAFT
            return
        note("publish: ok")
        publish_job(owner, job)
        self.session.commit()
        assert self.transfers_since(since) == [(
            f"job:{job.id}:fund-to:{overlap * n_items}", "job_funding",
            {f"{TOKEN}:requester:{owner.id}": -cost, f"{TOKEN}:escrow:job:{job.id}": cost})]
        assert self.balance(f"{TOKEN}:escrow:job:{job.id}") == cost
        assert self.balance(f"{TOKEN}:requester:{owner.id}") == balance - cost

    @precondition(lambda self: self.job_ids)
    @rule(index=st.integers(0, 10**6), turns=TURNS)
    def answer(self, index, turns):
        self._answer(index, turns)

    @precondition(lambda self: self.job_ids)
    @rule(index=st.integers(0, 10**6), turns=TURNS)
    def answer_more(self, index, turns):  # answers are most of what happens: drawn twice as often
        self._answer(index, turns)

    def _answer(self, index, turns):
        """Annotators in turn take the job's next task and answer it (items closest to complete
        are served first, so turns in a row fill items and consensus decides them)."""
        open_jobs = self.session.scalars(self.db.select(Job.id).where(
            Job.id.in_(self.job_ids), Job.status == JobStatus.PUBLISHED).order_by(Job.id)).all()
        if not open_jobs:
            job, worker = self.job(_pick(self.job_ids, index)), self.user(self.worker_ids[0])
            note(f"answer: refused, job {job.status.value}")
            self.refused(self.snapshot(), Conflict, lambda: next_task_for(worker, job))
            return
        job_id = _pick(open_jobs, index)
        for who, label, seconds in turns:
            job, worker = self.job(job_id), self.user(self.worker_ids[who])
            if job.status is not JobStatus.PUBLISHED:  # paused: its budget misses top-ups
                self.refused(self.snapshot(), Conflict, lambda: next_task_for(worker, job))
                return
            start = utcnow()
            assignment = next_task_for(worker, job, now=start)
            if assignment is None:  # nothing left this worker has not answered
                self.session.commit()
                continue
            since = self.last_transfer_id()
            decided_before = set(self.session.scalars(self.db.select(Answer.id).where(
                Answer.job_id == job.id, Answer.status == AnswerStatus.ACCEPTED)))
            submit_answer(worker, assignment.id, choices_result(label),
                          now=start + dt.timedelta(seconds=seconds))
            self.session.commit()
            accepted = set(self.session.scalars(self.db.select(Answer.id).where(
                Answer.job_id == job.id, Answer.status == AnswerStatus.ACCEPTED))) - decided_before
            posted = self.transfers_since(since)
            kinds = {kind for _, kind, _ in posted}
            note(f"answer: {len(accepted)} accepted, {sorted(kinds - {'reward'}) or 'no top-up'}")
            if self.job(job_id).status is JobStatus.PAUSED:
                note("answer: job paused for top-ups")
            self.earned = self.earned or bool(accepted)
            assert sorted(k for k, kind, _ in posted if kind == "reward") == sorted(
                f"answer:{a}:reward" for a in accepted)
            assert kinds <= {"reward", "floor_reserve", "floor_topup"}

    @precondition(lambda self: self.job_ids)
    @rule(index=st.integers(0, 10**6), add_funds_first=st.booleans())
    def resume(self, index, add_funds_first):
        paused = self.session.scalars(self.db.select(Job.id).where(
            Job.id.in_(self.job_ids), Job.status == JobStatus.PAUSED).order_by(Job.id)).all()
        if not paused:
            return
        job = self.job(_pick(paused, index))
        owner = self.user(job.owner_id)
        shortfall = escrow_needs(job).shortfall
        if add_funds_first and shortfall:  # (new money pays the owner's jobs in id order)
            key = f"k{next(_keys)}"
            credit_requester(owner, shortfall, key=key)
            self.session.commit()
            self.credits[key] = ("credit", owner.id, shortfall)
            job = self.job(job.id)
        try:
            resume_job(owner, job)
        except InsufficientFunds:
            note("resume: refused")
            self.session.rollback()
            assert self.job(job.id).status is JobStatus.PAUSED
            return
        self.session.commit()
        note("resume: ok")
        job = self.job(job.id)
        assert job.status is JobStatus.PUBLISHED and escrow_needs(job).shortfall == 0

    @precondition(lambda self: self.job_ids)
    @rule(index=st.integers(0, 10**6))
    def close(self, index):
        job = self.job(_pick(self.job_ids, index))
        owner = self.user(job.owner_id)
        if job.status is JobStatus.CLOSED:
            self.refused(self.snapshot(), Conflict, lambda: close_job(owner, job))
            return
        since = self.last_transfer_id()
        close_job(owner, job)
        self.session.commit()
        job = self.job(job.id)
        needs = escrow_needs(job)
        # Closed, the escrow keeps at most the top-ups accepted answers are still owed (less, if
        # the requester's balance could not cover them: paid as soon as money arrives).
        assert needs.undecided_slots == 0 and needs.surplus == 0
        assert needs.balance <= max(needs.owed_topups, 0)
        kinds = {kind for _, kind, _ in self.transfers_since(since)}
        assert kinds <= {"reward", "floor_reserve", "floor_topup", "refund"}

    # --- bonuses ---------------------------------------------------------------------------------

    @precondition(lambda self: self.job_ids)
    @rule(index=st.integers(0, 10**6), which=st.integers(0, 10**6), amount=st.one_of(st.integers(1, 25), st.integers(1, 300)),
          source=st.sampled_from(["escrow", "balance"]), by_answer=st.booleans())
    def bonus(self, index, which, amount, source, by_answer):
        job = self.job(_pick(self.job_ids, index))
        answers = self.session.scalars(
            self.db.select(Answer).where(Answer.job_id == job.id).order_by(Answer.id)).all()
        if not answers:
            return
        answer = _pick(answers, which)
        owner = self.user(job.owner_id)
        args = {"job_id": job.id, "amount": amount, "source": source, "key": f"b{next(_keys)}",
                "worker_id": None if by_answer else answer.worker_id,
                "answer_id": answer.id if by_answer else None}
        payer = (f"{TOKEN}:escrow:job:{job.id}" if source == "escrow"
                 else f"{TOKEN}:requester:{owner.id}")
        can_pay = (escrow_needs(job).surplus if source == "escrow" else self.balance(payer))
        since, before = self.last_transfer_id(), self.snapshot()
        note(f"bonus from {source}: {'refused' if amount > can_pay else 'paid'}")
        if amount > can_pay:
            self.refused(before, InsufficientFunds, lambda: self._pay_bonus(owner, args))
            return
        self._pay_bonus(owner, args)
        self.session.commit()
        self.bonuses[args["key"]] = args
        self.earned = True
        assert self.transfers_since(since) == [(
            f"bonus:{owner.id}:{args['key']}", "bonus",
            {payer: -amount, f"{TOKEN}:worker:{answer.worker_id}:pending": amount})]

    def _pay_bonus(self, owner, args):
        return pay_bonus(owner, self.job(args["job_id"]), amount=args["amount"], key=args["key"],
                         worker_id=args["worker_id"], answer_id=args["answer_id"], source=args["source"])

    @precondition(lambda self: self.bonuses)
    @rule(index=st.integers(0, 10**6), other_amount=st.booleans())
    def replay_bonus(self, index, other_amount):
        args = self.bonuses[_pick(self.bonuses, index)]
        owner, before = self.user(self.job(args["job_id"]).owner_id), self.snapshot()
        if other_amount:
            other = {**args, "amount": args["amount"] + 1}
            self.refused(before, TransferConflict, lambda: self._pay_bonus(owner, other))
            return
        # Sent again (even once the escrow could no longer spare it): nothing is paid twice.
        self._pay_bonus(owner, args)
        self.session.commit()
        assert self.snapshot() == before

    # --- holds and disputes ----------------------------------------------------------------------

    @precondition(lambda self: self.earned)
    @rule(hours=st.sampled_from([80, 1, 200]))
    def release(self, hours):
        now = utcnow() + dt.timedelta(hours=hours)
        due = self.session.scalars(self.db.select(Hold).where(
            Hold.status == HoldStatus.HELD, Hold.release_at <= now)).all()
        expected = defaultdict(int)
        for hold in due:
            expected[hold.worker_id] += hold.amount
        due_ids = {h.id for h in due}
        available = {w: self.balance(f"{TOKEN}:worker:{w}:available") for w in self.worker_ids}
        note(f"release: {'some' if due_ids else 'none'} due")
        assert release_holds(now=now) == len(due_ids)
        self.session.commit()
        for hold_id in due_ids:
            assert self.session.get(Hold, hold_id).status is HoldStatus.RELEASED
        for w in self.worker_ids:
            assert self.balance(f"{TOKEN}:worker:{w}:available") == available[w] + expected[w]

    @precondition(lambda self: self.job_ids)
    @rule(index=st.integers(0, 10**6), any_answer=st.booleans())
    def dispute(self, index, any_answer):
        query = self.db.select(Answer).order_by(Answer.id)
        if not any_answer:
            query = query.where(Answer.status == AnswerStatus.ACCEPTED)
        answers = self.session.scalars(query).all()
        if not answers:
            return
        answer = _pick(answers, index)
        owner, now = self.user(self.job(answer.job_id).owner_id), utcnow()
        open_holds = self.session.scalars(self.db.select(Hold).where(
            Hold.answer_id == answer.id, Hold.status == HoldStatus.HELD, Hold.release_at > now)).all()
        if answer.status is not AnswerStatus.ACCEPTED or not open_holds:
            note("dispute: refused")
            self.refused(self.snapshot(), RewardsConflict,
                         lambda: dispute_answer(owner, answer, reason="wrong", now=now))
            return
        before = self.snapshot()[:2]
        note("dispute: opened")
        disputed = dispute_answer(owner, answer, reason="wrong", now=now)
        self.session.commit()
        assert {h.id for h in disputed} == {h.id for h in open_holds}
        assert self.snapshot()[:2] == before  # a dispute moves no money by itself

    @rule(index=st.integers(0, 10**6), uphold=st.booleans())
    def resolve(self, index, uphold):
        disputed = self.session.scalars(self.db.select(Hold).where(
            Hold.status == HoldStatus.DISPUTED).order_by(Hold.id)).all()
        if not disputed:
            return
        answer = self.session.get(Answer, _pick(disputed, index).answer_id)
        holds = [h for h in disputed if h.answer_id == answer.id]
        worker = answer.worker_id
        pending = self.balance(f"{TOKEN}:worker:{worker}:pending")
        note(f"dispute: {'upheld' if uphold else 'dismissed'}")
        resolve_dispute(self.user(self.admin_id), answer, uphold=uphold)
        self.session.commit()
        for hold in holds:
            self.session.refresh(hold)
            assert hold.status is (HoldStatus.REVERSED if uphold else HoldStatus.RELEASED)
        if uphold:
            assert self.session.get(Answer, answer.id).status is AnswerStatus.REJECTED
        # Either way the disputed earnings leave pending (released or reversed); nothing else does.
        assert self.balance(f"{TOKEN}:worker:{worker}:pending") <= pending - sum(h.amount for h in holds)

    # --- payouts ---------------------------------------------------------------------------------

    @precondition(lambda self: self.earned)
    @rule(who=st.integers(0, 3), fraction=st.sampled_from([0.5, 1.0, 1.5]), extra=st.integers(0, 3))
    def reserve(self, who, fraction, extra):
        """A payout of part, all or more than a worker's available balance (a worker who has
        some is picked when there is one)."""
        having = self.session.scalars(self.db.select(LedgerAccount.user_id).where(
            LedgerAccount.kind == "worker_available", LedgerAccount.balance > 0)
            .order_by(LedgerAccount.user_id)).all()
        worker = self.user(_pick(having, who) if having else self.worker_ids[who])
        available = self.balance(f"{TOKEN}:worker:{worker.id}:available")
        amount = max(int(available * fraction), 1) + (extra if fraction > 1 else 0)
        key = f"p{next(_keys)}"
        note(f"payout: {'refused' if amount > available else 'reserved'}")
        if amount > available:
            self.refused(self.snapshot(), InsufficientFunds, lambda: reserve_payout(worker, amount, key=key))
            return
        in_flight = self.balance(f"{TOKEN}:worker:{worker.id}:payout")
        reserve_payout(worker, amount, key=key)
        self.session.commit()
        self.payouts[key] = (worker.id, amount, "in_flight")
        assert self.balance(f"{TOKEN}:worker:{worker.id}:available") == available - amount
        assert self.balance(f"{TOKEN}:worker:{worker.id}:payout") == in_flight + amount

    @precondition(lambda self: any(state == "in_flight" for _, _, state in self.payouts.values()))
    @rule(index=st.integers(0, 10**6), sent=st.booleans(), replay=st.booleans())
    def finish_payout(self, index, sent, replay):
        key = _pick([k for k, (_, _, s) in self.payouts.items() if s == "in_flight"], index)
        worker_id, amount, _ = self.payouts[key]
        worker = self.user(worker_id)
        available = self.balance(f"{TOKEN}:worker:{worker_id}:available")
        in_flight = self.balance(f"{TOKEN}:worker:{worker_id}:payout")
        finish = complete_payout if sent else fail_payout
        for _ in range(2 if replay else 1):  # a repeated confirmation pays nothing more
            finish(worker, amount, key=key)
            self.session.commit()
        self.payouts[key] = (worker_id, amount, "sent" if sent else "failed")
        note(f"payout: {'sent' if sent else 'failed'}")
        assert self.balance(f"{TOKEN}:worker:{worker_id}:payout") == in_flight - amount
        assert self.balance(f"{TOKEN}:worker:{worker_id}:available") == available + (0 if sent else amount)

    # --- the audit after every step --------------------------------------------------------------
    # One invariant reading each table once: PostgreSQL round trips are what this test spends.

    @invariant()
    def audit(self):
        note("step")
        db, session = self.db, self.session
        accounts = {row.id: row for row in session.execute(db.select(
            LedgerAccount.id, LedgerAccount.code, LedgerAccount.kind, LedgerAccount.balance,
            LedgerAccount.allow_negative, LedgerAccount.job_id))}
        transfers = session.execute(db.select(LedgerTransfer.id, LedgerTransfer.key, LedgerTransfer.kind)
                                    .order_by(LedgerTransfer.id)).all()
        entries = session.execute(db.select(LedgerEntry.transfer_id, LedgerEntry.account_id,
                                            LedgerEntry.amount)).all()
        legs: dict[int, dict[int, int]] = defaultdict(dict)
        for transfer_id, account_id, amount in entries:
            legs[transfer_id][account_id] = amount
        kind_of = {t.id: t.kind for t in transfers}

        # Every transfer has legs summing to zero; so all balances sum to zero.
        assert set(legs) == set(kind_of)
        for transfer in transfers:
            assert len(legs[transfer.id]) >= 2 and sum(legs[transfer.id].values()) == 0, transfer
        assert sum(a.balance for a in accounts.values()) == 0
        # Stored balance == sum of entries; only the outside-facing accounts go below zero.
        summed: dict[int, int] = defaultdict(int)
        for _, account_id, amount in entries:
            summed[account_id] += amount
        for a in accounts.values():
            assert a.balance == summed[a.id], a
            assert a.allow_negative is (a.kind in NEGATIVE_ALLOWED), a
            assert a.balance >= 0 or a.kind in NEGATIVE_ALLOWED, a

        holds = session.execute(db.select(Hold.key, Hold.kind, Hold.worker_id, Hold.job_id,
                                          Hold.amount, Hold.status)).all()
        answers = session.execute(db.select(Answer.id, Answer.job_id, Answer.status)).all()
        self._check_escrows(accounts, legs, kind_of, holds, answers)
        self._check_answers_paid_once(transfers, holds, answers)
        # A worker's pending balance is exactly their held and disputed earnings.
        open_holds: dict[int, int] = defaultdict(int)
        for hold in holds:
            if hold.status in (HoldStatus.HELD, HoldStatus.DISPUTED):
                open_holds[hold.worker_id] += hold.amount
        pending = {a.code: a.balance for a in accounts.values() if a.kind == "worker_pending"}
        for worker_id in self.worker_ids:
            assert pending.get(f"{TOKEN}:worker:{worker_id}:pending", 0) == open_holds[worker_id]
        self._check_replays_change_nothing(accounts, transfers, legs)

    def _check_escrows(self, accounts, legs, kind_of, holds, answers):
        """Per job: escrow out ≤ escrow in, by kind of transfer; and the escrow holds what the job
        may still pay (published), or no more than it owes (closed). Computed here from the rows,
        not with settlement's own `escrow_needs`."""
        db = self.db
        escrow_of = {a.id: a.job_id for a in accounts.values() if a.kind == "job_escrow"}
        flows: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for transfer_id, transfer_legs in legs.items():
            for account_id, amount in transfer_legs.items():
                if account_id in escrow_of:
                    flows[escrow_of[account_id]][kind_of[transfer_id]] += amount
        decided: dict[int, dict[AnswerStatus, int]] = defaultdict(lambda: defaultdict(int))
        for _, job_id, status in answers:
            decided[job_id][status] += 1
        topped: dict[int, int] = defaultdict(int)
        for hold in holds:
            if hold.kind == "topup" and hold.status is not HoldStatus.REVERSED:
                topped[hold.job_id] += hold.amount
        jobs = self.session.execute(
            db.select(Job.id, Job.status, Job.reward, Job.overlap, Job.n_items,
                      JobBudget.fee_per_answer, JobBudget.topup_per_answer)
            .outerjoin(JobBudget, JobBudget.job_id == Job.id)).all()
        for job in jobs:
            flow = flows.get(job.id, {})
            assert set(flow) <= INTO_ESCROW | OUT_OF_ESCROW, flow
            assert all(flow[k] >= 0 for k in INTO_ESCROW & set(flow)), flow
            assert all(flow[k] <= 0 for k in OUT_OF_ESCROW & set(flow)), flow
            reserved = flow.get("job_funding", 0) + flow.get("floor_reserve", 0)
            reversed_in = flow.get("dispute_upheld", 0)
            paid_out = -sum(flow.get(k, 0) for k in ("reward", "floor_topup", "bonus"))
            refunded = -flow.get("refund", 0)
            assert paid_out - reversed_in + refunded <= reserved, (job, dict(flow))
            if job.status is JobStatus.DRAFT:
                assert flow == {}
                continue
            balance = reserved + reversed_in - paid_out - refunded
            accepted = decided[job.id][AnswerStatus.ACCEPTED]
            undecided = max(job.overlap * job.n_items - accepted - decided[job.id][AnswerStatus.REJECTED], 0)
            fee, topup = job.fee_per_answer or 0, job.topup_per_answer or 0  # no budget: never funded
            owed = topup * accepted - topped[job.id]
            assert owed >= 0, job  # no answer is topped up beyond the target
            if job.status is JobStatus.PUBLISHED:  # it can pay every answer it may still take
                per_slot = job.reward + fee + topup
                assert balance >= per_slot * undecided + owed, (job, dict(flow))
            elif job.status is JobStatus.CLOSED:  # it returned everything it does not owe
                assert balance <= owed, (job, dict(flow))

    def _check_answers_paid_once(self, transfers, holds, answers):
        """Every accepted answer's reward was posted once; a rejected one's never, or reversed."""
        reward_keys: dict[str, int] = defaultdict(int)
        for transfer in transfers:
            if transfer.kind == "reward":
                reward_keys[transfer.key] += 1
        hold_status = {h.key: h.status for h in holds if h.kind == "reward"}
        for answer_id, _, status in answers:
            key = f"answer:{answer_id}:reward"
            if status is AnswerStatus.ACCEPTED:
                assert reward_keys.pop(key) == 1 and hold_status[key] is not HoldStatus.REVERSED
            elif status is AnswerStatus.REJECTED and key in reward_keys:  # a dispute upheld
                assert reward_keys.pop(key) == 1 and hold_status[key] is HoldStatus.REVERSED
            else:
                assert key not in reward_keys, (answer_id, status)
        assert reward_keys == {}

    def _check_replays_change_nothing(self, accounts, transfers, legs):
        """Posting every transfer again, with the legs it was posted with, changes nothing."""
        if not transfers:
            return
        db = self.db
        objects = {a.id: a for a in self.session.scalars(db.select(LedgerAccount))}
        replayed = post_transfers([TransferSpec(t.key, {objects[a]: n for a, n in legs[t.id].items()},
                                                t.kind) for t in transfers])
        assert [t.id for t in replayed] == [t.id for t in transfers]
        count = self.session.scalar(db.select(db.func.count()).select_from(LedgerTransfer))
        balances = dict(self.session.execute(db.select(LedgerAccount.id, LedgerAccount.balance)).all())
        assert count == len(transfers)
        assert balances == {a.id: a.balance for a in accounts.values()}
        self.session.rollback()

    def teardown(self):
        self.session.rollback()
        self.session.remove()


def test_ledger_survives_random_sequences(app, db, make_user, make_job):
    # Few answers per job, so measure the pay floor early: slow answers then trigger top-ups,
    # refills and paused jobs.
    app.config["PAY_FLOOR_MIN_ANSWERS"] = 3
    OUTCOMES.clear()
    run_state_machine_as_test(
        lambda: LedgerMachine(db, make_user, make_job),
        settings=settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEPS, deadline=None,
                          database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                 HealthCheck.data_too_large]))
    print("\n".join(f"{n:5d}  {outcome}" for outcome, n in sorted(OUTCOMES.items())))


# --- payouts: what the state machine only does right, done wrong ---------------------------------

def _worker_with_two_payouts_in_flight(db, make_user):
    from rewards.accounts import available_account, treasury_account
    from rewards.ledger import post_transfer

    worker = make_user("annotator")
    post_transfer("earned", {treasury_account(TOKEN): -20, available_account(TOKEN, worker.id): 20},
                  kind="test")
    reserve_payout(worker, 10, key="p1")
    reserve_payout(worker, 10, key="p2")
    db.session.commit()
    return worker


def test_a_completed_payout_cannot_also_fail(db, make_user):
    worker = _worker_with_two_payouts_in_flight(db, make_user)
    complete_payout(worker, 10, key="p1")
    db.session.commit()
    with pytest.raises((RewardsConflict, TransferConflict)):
        fail_payout(worker, 10, key="p1")
    db.session.rollback()
    assert worker_money(db, worker) == {"available": 0, "in_flight": 10}


def test_completing_a_payout_moves_what_it_reserved(db, make_user):
    worker = _worker_with_two_payouts_in_flight(db, make_user)
    try:
        complete_payout(worker, 15, key="p1")
        db.session.commit()
    except (RewardsConflict, TransferConflict, InsufficientFunds):
        db.session.rollback()
    # Either refused, or p1's own 10 left: p2's 10 is still in flight.
    assert worker_money(db, worker)["in_flight"] in (10, 20)


def worker_money(db, worker) -> dict[str, int]:
    from rewards.ledger import balance_of

    return {"available": balance_of(f"{TOKEN}:worker:{worker.id}:available"),
            "in_flight": balance_of(f"{TOKEN}:worker:{worker.id}:payout")}
