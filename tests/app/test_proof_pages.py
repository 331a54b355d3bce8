"""An annotator's contributions on chain: listed, downloadable as proofs, private to them; and
/verify's posted-root lookup, which decides whether a proof is valid (issue #9: "/verify says
Valid for a forged proof")."""
import pytest
from eth_account import Account

from annotation.tasks import next_task_for
from app.operations.tasks import submit_answer
from app.worker import run_cycle
from rewards.chain import merkle
from rewards.chain.errors import ChainUnavailable
from rewards.payouts import PostedRoot, check_contribution_proof, label_json, proof_structure_error

from conftest import choices_result


def forge(proof: dict, epoch: int | None = None) -> dict:
    """What an attacker writes: a one-leaf "tree" whose root is its own leaf, an empty proof and a
    made-up posting transaction; every field is self-consistent."""
    epoch = proof["epoch"] if epoch is None else epoch
    salt = "0x" + "11" * 32
    label = label_json({"sentiment": ["positive"]})
    commitment = "0x" + merkle.label_commitment(bytes.fromhex(salt[2:]), label).hex()
    leaf = merkle.leaf_hash(merkle.CONTRIBUTION_TYPES, (999_999, 77, proof["wallet"], bytes.fromhex(commitment[2:]),
                                                        10**6, epoch))
    return {**proof, "epoch": epoch, "answer_id": 999_999, "item_id": 77, "label_json": label, "salt": salt,
            "label_commitment": commitment, "reward": 10**6, "leaf": "0x" + leaf.hex(), "proof": [],
            "root": "0x" + leaf.hex(), "post_tx": "0x" + "ab" * 32}


def test_contributions_page_and_proof_download(db, app, make_user, make_job, login):
    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    worker, other = make_user(), make_user()
    worker.wallet_address = Account.create().address
    job = make_job(n_items=1, overlap=1, reward=10)
    answer = submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
    db.session.commit()
    client = login(worker)
    assert "No contributions on chain yet" in client.get("/me/contributions").get_data(as_text=True)
    db.session.commit()  # end this session's read: on SQLite it would hold the worker's write lock
    run_cycle(app)
    run_cycle(app)
    page = client.get("/me/contributions").get_data(as_text=True)
    assert f"/me/contributions/{answer.id}/proof.json" in page
    download = client.get(f"/me/contributions/{answer.id}/proof.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    proof = download.get_json()
    assert proof_structure_error(proof) is None and proof["label"] == {"sentiment": ["positive"]}
    assert login(other).get(f"/me/contributions/{answer.id}/proof.json").status_code == 404
    assert client.get("/verify").status_code == 200


def test_earnings_page_counts_what_was_paid_out(db, app, make_user, make_job, login):
    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    worker = make_user()
    worker.wallet_address = Account.create().address
    job = make_job(n_items=2, overlap=1, reward=10)
    for _ in range(2):
        submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
        db.session.commit()
    run_cycle(app)
    run_cycle(app)
    page = login(worker).get("/me").get_data(as_text=True)
    assert '<span class="big" id="paid-out">20</span>' in page
    assert '<span class="big" id="earned">20</span>' in page
    assert '<span class="big" id="available">0</span>' in page


# --- issue #9: "/verify says Valid for a forged proof" ----------------------------------------------

def test_verify_forged_proof_is_invalid_root_not_posted(db, app, paid_contribution, client):
    """The forged proof passes every check against itself (what /verify did); against the root
    posted on chain for its epoch it is refused, and the real proof is valid, read from the chain."""
    _worker, _answer, download = paid_contribution()
    proof = download.get_json()
    forged = forge(proof)
    assert proof_structure_error(forged) is None  # self-consistent: the old check said "Valid"
    answer = client.get(f"/verify/root?epoch={proof['epoch']}")
    assert answer.status_code == 200
    posted = answer.get_json()
    assert posted["root"] == proof["root"] and posted["source"] == "chain"
    assert posted["source_text"].startswith(f"read from distributor {proof['distributor']} on chain "
                                            f"{proof['chain_id']} at block ")
    root = PostedRoot(**{k: posted[k] for k in ("epoch", "root", "source", "chain_id", "distributor", "block",
                                                "tx_hash", "note")})
    check = check_contribution_proof(forged, root)
    assert not check.ok and check.message.startswith("Invalid: root not posted.")
    assert check_contribution_proof(proof, root).ok
    # an epoch that was never posted has no root at all
    later = client.get(f"/verify/root?epoch={proof['epoch'] + 1}").get_json()
    assert later["root"] is None and later["source"] == "chain"
    never = check_contribution_proof(forge(proof, proof["epoch"] + 1),
                                     PostedRoot(proof["epoch"] + 1, None, "chain", proof["chain_id"],
                                                proof["distributor"]))
    assert not never.ok and "has no contributions root" in never.message


def test_verify_root_comes_from_the_record_when_the_node_is_down(db, app, paid_contribution, client,
                                                                  monkeypatch):
    _worker, _answer, download = paid_contribution()
    proof = download.get_json()
    from rewards.onchain import ChainHandle

    def down(*_args, **_kwargs):  # what the guarded provider raises for a dead node
        raise ChainUnavailable("The blockchain node http://127.0.0.1:9 cannot be reached (connection failed).")

    monkeypatch.setattr(ChainHandle, "confirmed_block", down)
    posted = client.get(f"/verify/root?epoch={proof['epoch']}", headers={"Accept": "application/json"}).get_json()
    assert posted["source"] == "record" and posted["root"] == proof["root"]
    assert posted["tx_hash"] == proof["post_tx"] and posted["note"] == "the chain node could not be reached"
    assert "from this server's record of the posting transaction" in posted["source_text"]
    missing = client.get(f"/verify/root?epoch={proof['epoch'] + 1}").get_json()
    assert missing["source"] == "record" and missing["root"] is None


@pytest.mark.parametrize("epoch", ["", "abc", "-1", "+1", " 1", "1.0", "٥", "99999999999", "1e3"])
def test_verify_root_refuses_what_is_not_an_epoch(client, epoch):
    answer = client.get("/verify/root", query_string={"epoch": epoch}, headers={"Accept": "application/json"})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_request"


def test_verify_root_of_an_epoch_too_large_to_exist_is_none(client):
    answer = client.get("/verify/root?epoch=4294967295").get_json()
    assert answer["root"] is None
