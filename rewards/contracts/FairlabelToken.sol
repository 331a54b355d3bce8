// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/// @title Fairlabel reward token
/// @notice The default token workers are paid in. Any existing ERC-20 (a stablecoin, say) can be
/// configured instead: the distributor only needs IERC20.
/// @dev Owner-mintable rather than a fixed supply minted to the deployer: the platform mints as
/// requesters fund jobs, so the on-chain supply follows the off-chain ledger's deposits instead of
/// a guessed treasury. Zero decimals: one token is one unit of the platform's integer ledger, so
/// what an annotator sees on their earnings page is what their wallet shows (with the default
/// TOKEN_UNITS_PER_CURRENCY = 100, one FLT is one US cent). A configured stablecoin keeps its own
/// decimals: the operator sets TOKEN_UNITS_PER_CURRENCY to its smallest units per currency unit. Ownership moves
/// in two steps (Ownable2Step) so a typo in the new owner's address cannot lose the mint key.
contract FairlabelToken is ERC20, ERC20Permit, Ownable2Step {
    constructor(address initialOwner)
        ERC20("Fairlabel Token", "FLT")
        ERC20Permit("Fairlabel Token")
        Ownable(initialOwner)
    {}

    function decimals() public pure override returns (uint8) {
        return 0;
    }

    /// @notice Create `amount` new tokens for `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
