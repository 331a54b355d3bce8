// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title Cumulative Merkle distributor
/// @notice Pays workers what they have earned in total, minus what they were already paid.
///
/// Each epoch the platform posts two roots:
///  - the earnings root: an OpenZeppelin StandardMerkleTree of (address account, uint256 cumulative),
///    every wallet's total earnings since the start;
///  - the contributions root: a StandardMerkleTree of the accepted contributions behind those totals
///    (answer id, item id, wallet, salted label commitment, reward, epoch), kept per epoch so anyone
///    can later prove what a payment was for.
///
/// Amounts are cumulative, so paying is idempotent: a wallet can never receive more than
/// `cumulative - claimed[account]`, whichever path pays it (claim or push) and however often a
/// transaction is replayed or resubmitted.
///
/// @dev `push` does not check proofs. The owner already decides every root, so a proof against a
/// root the owner posted adds no protection against the owner, and it would cost each wallet
/// ~14 hashes plus ~450 bytes of calldata. What `push` does guarantee is the replay property: it
/// skips anyone with `claimed >= cumulative`, so a batch sent twice (a retry after a timeout, a
/// reorged transaction re-mined) pays nothing the second time.
contract CumulativeMerkleDistributor is Ownable2Step, Pausable {
    using SafeERC20 for IERC20;

    /// @notice The token paid out. Immutable: read from code, no storage load per payment.
    IERC20 public immutable token;

    /// @notice The latest epoch posted (0 before the first).
    uint256 public currentEpoch;

    /// @notice Root of (account, cumulative) for the current epoch; claims verify against it.
    bytes32 public earningsRoot;

    /// @notice Total ever paid to each account, by claim or push.
    mapping(address account => uint256) public claimed;

    /// @notice Root of the accepted contributions for each posted epoch.
    mapping(uint256 epoch => bytes32) public contributionsRoot;

    event EpochPosted(uint256 indexed epoch, bytes32 earningsRoot, bytes32 contributionsRoot);
    event Claimed(address indexed account, uint256 amount, uint256 cumulative);
    /// @dev One event per push batch keeps the per-wallet cost low; the token's own Transfer
    /// events (from this contract) already name every wallet paid and the amount.
    event Pushed(uint256 paidCount, uint256 totalAmount);

    error EpochNotIncreasing(uint256 epoch, uint256 currentEpoch);
    error InvalidProof();
    error NothingToClaim(address account, uint256 cumulative, uint256 alreadyClaimed);
    error LengthMismatch(uint256 accounts, uint256 cumulatives);
    error RenounceDisabled();

    constructor(IERC20 token_, address initialOwner) Ownable(initialOwner) {
        token = token_;
    }

    /// @notice Publish the roots of `epoch`. Epochs strictly increase, so an old root can never be
    /// posted again to replace a newer one.
    function postEpoch(uint256 epoch, bytes32 earningsRoot_, bytes32 contributionsRoot_)
        external
        onlyOwner
    {
        uint256 current = currentEpoch;
        if (epoch <= current) revert EpochNotIncreasing(epoch, current);
        currentEpoch = epoch;
        earningsRoot = earningsRoot_;
        contributionsRoot[epoch] = contributionsRoot_;
        emit EpochPosted(epoch, earningsRoot_, contributionsRoot_);
    }

    /// @notice Pay `account` its unpaid earnings, proven against the current earnings root.
    /// Anyone may submit the claim (a relayer, say); the tokens always go to `account`.
    function claim(address account, uint256 cumulative, bytes32[] calldata proof)
        external
        whenNotPaused
    {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulative))));
        if (!MerkleProof.verifyCalldata(proof, earningsRoot, leaf)) revert InvalidProof();
        uint256 already = claimed[account];
        if (cumulative <= already) revert NothingToClaim(account, cumulative, already);
        claimed[account] = cumulative;
        uint256 amount;
        unchecked {
            amount = cumulative - already;
        }
        token.safeTransfer(account, amount);
        emit Claimed(account, amount, cumulative);
    }

    /// @notice Pay many wallets up to their cumulative earnings. Owner only; wallets already paid
    /// that much are skipped, so replaying a batch pays nothing twice.
    function push(address[] calldata accounts, uint256[] calldata cumulatives)
        external
        onlyOwner
        whenNotPaused
    {
        uint256 n = accounts.length;
        if (n != cumulatives.length) revert LengthMismatch(n, cumulatives.length);
        IERC20 token_ = token;
        uint256 paidCount;
        uint256 total;
        for (uint256 i; i < n;) {
            address account = accounts[i];
            uint256 cumulative = cumulatives[i];
            uint256 already = claimed[account];
            if (cumulative > already) {
                claimed[account] = cumulative; // before the transfer: a re-entering claim sees it
                uint256 amount;
                unchecked {
                    amount = cumulative - already; // cumulative > already
                    total += amount; // each amount left our balance, so the sum fits the supply
                    ++paidCount;
                }
                token_.safeTransfer(account, amount);
            }
            unchecked {
                ++i;
            }
        }
        emit Pushed(paidCount, total);
    }

    /// @notice Stop claims and pushes (an incident, a bad root). Owner only.
    function pause() external onlyOwner {
        _pause();
    }

    /// @notice Resume claims and pushes. Owner only.
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @dev Renouncing would strand the funds and freeze the roots; hand over with
    /// transferOwnership + acceptOwnership instead.
    function renounceOwnership() public view override onlyOwner {
        revert RenounceDisabled();
    }
}
