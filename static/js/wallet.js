// Sign-In with Ethereum (EIP-4361) for every [data-siwe] box (templates/auth/wallet.html).
// With a wallet extension (window.ethereum, EIP-1193): ask for the account, get the exact message
// the server built (domain, URI, chain id, nonce, times), personal_sign it, post the signature.
// Without one: the same steps by hand — type the address, copy the message, paste the signature.
import { postJSON } from "./api.js";

function utf8Hex(text) {
  // personal_sign takes the message as hex of its UTF-8 bytes (a plain string is ambiguous when it
  // itself looks like hex).
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

function setup(box) {
  const purpose = box.dataset.purpose;
  const status = box.querySelector("[data-siwe-status]");
  const startButton = box.querySelector("[data-siwe-start]");
  const manual = box.querySelector("[data-siwe-manual]");
  const addressInput = box.querySelector("[data-siwe-address]");
  const textArea = box.querySelector("[data-siwe-text]");
  const signatureInput = box.querySelector("[data-siwe-signature]");
  let pending = null; // {message, submit_url} from the server

  const say = (text, isError = false) => {
    status.textContent = text;
    status.classList.toggle("error", isError);
  };

  async function getMessage(address) {
    const result = await postJSON(box.dataset.messageUrl, { address, purpose });
    if (!result.ok) throw new Error(result.error);
    pending = result.data;
    return pending;
  }

  async function submit(message, signature) {
    const result = await postJSON(pending.submit_url, { message, signature });
    if (!result.ok) throw new Error(result.error);
    if (purpose === "login") {
      say("Signed in. Loading…");
      window.location.assign(result.data.redirect);
    } else {
      say(`Wallet ${result.data.user.wallet_address} linked.`);
      window.location.reload();
    }
  }

  async function withWallet() {
    const ethereum = window.ethereum;
    say("Asking your wallet for an account…");
    const accounts = await ethereum.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
    const address = accounts[0];
    const { message } = await getMessage(address);
    say("Please sign the message in your wallet (it sends no transaction).");
    const signature = await ethereum.request({ method: "personal_sign", params: [utf8Hex(message), address] });
    say("Checking the signature…");
    await submit(message, signature);
  }

  const fail = (error) => {
    // EIP-1193: code 4001 is the user saying no in the wallet.
    say(error?.code === 4001 ? "You declined in the wallet; nothing changed." : (error?.message ?? String(error)), true);
  };

  startButton.addEventListener("click", async () => {
    if (!window.ethereum) {
      say("No wallet extension found in this browser: sign by hand below.", true);
      manual.open = true;
      addressInput.focus();
      return;
    }
    startButton.disabled = true;
    try {
      await withWallet();
    } catch (error) {
      fail(error);
    } finally {
      startButton.disabled = false;
    }
  });

  box.querySelector("[data-siwe-get]").addEventListener("click", async () => {
    try {
      const { message } = await getMessage(addressInput.value.trim());
      textArea.value = message;
      textArea.focus();
      textArea.select();
      say("Sign the message exactly as shown, then paste the signature.");
    } catch (error) {
      fail(error);
    }
  });

  box.querySelector("[data-siwe-submit]").addEventListener("click", async () => {
    if (!pending) {
      say("Get the message first.", true);
      return;
    }
    try {
      await submit(pending.message, signatureInput.value.trim());
    } catch (error) {
      fail(error);
    }
  });
}

document.querySelectorAll("[data-siwe]").forEach(setup);
