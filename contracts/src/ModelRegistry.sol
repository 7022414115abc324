// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ModelRegistry
/// @notice Maps a model id to the contract that verifies its proofs, the model's
///         owner and a metadata URI.
/// @dev The model id is computed here, not taken on trust:
///      `modelId = keccak256(abi.encodePacked(circuitDigest, numInputs, numOutputs))`
///      (32 + 4 + 4 bytes, the counts big-endian), where `circuitDigest` commits to
///      the circuit (verifying key, constraint system, shape; docs/onchain.md gives
///      the exact bytes). So the instance counts a job is built with are the ones
///      the model id names: nobody can register a model's id with other counts.
///
///      The first registrant of an id owns it. A change of verifier or URI is
///      announced (`proposeUpdate`) and takes effect `UPDATE_DELAY` seconds later,
///      with no further transaction; until then the old entry is the effective
///      one. Requesters pin the verifier's code hash in `JobMarket.postJob`, and a
///      job keeps the verifier it was posted with, so an update never changes what
///      settles a job already posted, nor what a requester pays for.
///
///      The registry cannot check that a verifier verifies the model's proofs:
///      anyone can regenerate it from the verifying key (`zkinfer evm export`) and
///      compare code hashes (`zkinfer evm check`).
contract ModelRegistry {
    /// How long an announced update waits before it takes effect.
    uint64 public constant UPDATE_DELAY = 2 days;

    /// A registry entry as `get` returns it: the effective verifier and URI at the
    /// current block, and the update still waiting, if any.
    struct Model {
        /// The effective EVM verifier: calldata = inputs ‖ outputs ‖ binding (32-byte words) ‖ proof.
        address verifier;
        /// `extcodehash` of `verifier` when it was registered or proposed.
        bytes32 verifierCodeHash;
        /// Who may update or transfer the entry.
        address owner;
        /// Number of public input instances (quantized inputs).
        uint32 numInputs;
        /// Number of public output instances (quantized outputs).
        uint32 numOutputs;
        /// What the model id commits to besides the counts.
        bytes32 circuitDigest;
        /// Where the model's files (ONNX, compiled model, keys) are described.
        string metadataURI;
        /// The announced verifier (zero address when no update is waiting).
        address pendingVerifier;
        /// Its `extcodehash` when proposed.
        bytes32 pendingCodeHash;
        /// When it takes effect (unix seconds; 0 when no update is waiting).
        uint64 pendingEffectiveAt;
        /// The announced metadata URI.
        string pendingMetadataURI;
    }

    struct Entry {
        // slot 0
        address verifier;
        uint32 numInputs;
        uint32 numOutputs;
        // slot 1
        address owner;
        uint64 pendingEffectiveAt;
        // slot 2..
        bytes32 verifierCodeHash;
        bytes32 circuitDigest;
        address pendingVerifier;
        bytes32 pendingCodeHash;
        string metadataURI;
        string pendingMetadataURI;
    }

    mapping(bytes32 => Entry) private models;

    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        address verifier,
        bytes32 verifierCodeHash,
        bytes32 circuitDigest,
        uint32 numInputs,
        uint32 numOutputs,
        string metadataURI
    );
    /// An update was announced; it is the effective entry from `effectiveAt` on.
    event ModelUpdateProposed(
        bytes32 indexed modelId, address verifier, bytes32 verifierCodeHash, uint64 effectiveAt, string metadataURI
    );
    /// The waiting update was withdrawn by the owner before it took effect.
    event ModelUpdateCancelled(bytes32 indexed modelId, address verifier);
    /// An update that had taken effect was written to storage (`applyUpdate`, or
    /// before the next proposal). It was effective from `effectiveAt` on already.
    event ModelUpdated(bytes32 indexed modelId, address verifier, bytes32 verifierCodeHash, uint64 effectiveAt);
    event ModelTransferred(bytes32 indexed modelId, address indexed from, address indexed to);

    error AlreadyRegistered(bytes32 modelId);
    error UnknownModel(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error NotAContract(address verifier);
    error NoInstances();
    error ZeroAddress();
    error NoPendingUpdate(bytes32 modelId);
    error UpdateNotYetEffective(bytes32 modelId, uint64 effectiveAt);
    error UpdateAlreadyEffective(bytes32 modelId, uint64 effectiveAt);

    /// @notice The model id of a circuit with these instance counts.
    function modelIdOf(bytes32 circuitDigest, uint32 numInputs, uint32 numOutputs) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(circuitDigest, numInputs, numOutputs));
    }

    /// @notice Registers the model of `circuitDigest` with these instance counts,
    ///         owned by the caller; returns its id. Takes effect at once.
    function register(
        bytes32 circuitDigest,
        uint32 numInputs,
        uint32 numOutputs,
        address verifier,
        string calldata metadataURI
    ) external returns (bytes32 modelId) {
        modelId = modelIdOf(circuitDigest, numInputs, numOutputs);
        if (models[modelId].owner != address(0)) revert AlreadyRegistered(modelId);
        if (verifier.code.length == 0) revert NotAContract(verifier);
        if (numOutputs == 0) revert NoInstances();
        Entry storage e = models[modelId];
        e.verifier = verifier;
        e.numInputs = numInputs;
        e.numOutputs = numOutputs;
        e.owner = msg.sender;
        e.verifierCodeHash = verifier.codehash;
        e.circuitDigest = circuitDigest;
        e.metadataURI = metadataURI;
        emit ModelRegistered(
            modelId, msg.sender, verifier, verifier.codehash, circuitDigest, numInputs, numOutputs, metadataURI
        );
    }

    /// @notice Announces a new verifier and metadata URI for `modelId`; only its
    ///         owner. It becomes the effective entry `UPDATE_DELAY` seconds from now
    ///         and replaces an update still waiting (whose delay then starts over).
    function proposeUpdate(bytes32 modelId, address verifier, string calldata metadataURI)
        external
        returns (uint64 effectiveAt)
    {
        Entry storage e = ownedBy(modelId, msg.sender);
        if (verifier.code.length == 0) revert NotAContract(verifier);
        settle(modelId, e);
        effectiveAt = uint64(block.timestamp) + UPDATE_DELAY;
        e.pendingVerifier = verifier;
        e.pendingCodeHash = verifier.codehash;
        e.pendingEffectiveAt = effectiveAt;
        e.pendingMetadataURI = metadataURI;
        emit ModelUpdateProposed(modelId, verifier, verifier.codehash, effectiveAt, metadataURI);
    }

    /// @notice Withdraws the update of `modelId` that has not taken effect yet; only its owner.
    function cancelUpdate(bytes32 modelId) external {
        Entry storage e = ownedBy(modelId, msg.sender);
        if (e.pendingEffectiveAt == 0) revert NoPendingUpdate(modelId);
        if (block.timestamp >= e.pendingEffectiveAt) revert UpdateAlreadyEffective(modelId, e.pendingEffectiveAt);
        address was = e.pendingVerifier;
        clearPending(e);
        emit ModelUpdateCancelled(modelId, was);
    }

    /// @notice Writes an update that has taken effect to storage and emits
    ///         `ModelUpdated`; anyone may call it. It changes nothing that `get`
    ///         and `resolve` return: the update is effective already.
    function applyUpdate(bytes32 modelId) external {
        Entry storage e = models[modelId];
        if (e.owner == address(0)) revert UnknownModel(modelId);
        if (e.pendingEffectiveAt == 0) revert NoPendingUpdate(modelId);
        if (block.timestamp < e.pendingEffectiveAt) revert UpdateNotYetEffective(modelId, e.pendingEffectiveAt);
        settle(modelId, e);
    }

    /// @notice Hands `modelId` to `newOwner`; only its owner. A waiting update stays.
    function transfer(bytes32 modelId, address newOwner) external {
        if (newOwner == address(0)) revert ZeroAddress();
        Entry storage e = ownedBy(modelId, msg.sender);
        e.owner = newOwner;
        emit ModelTransferred(modelId, msg.sender, newOwner);
    }

    /// @notice The entry of `modelId` as effective at this block; reverts
    ///         `UnknownModel` when there is none.
    function get(bytes32 modelId) external view returns (Model memory m) {
        Entry storage e = models[modelId];
        if (e.owner == address(0)) revert UnknownModel(modelId);
        m.owner = e.owner;
        m.numInputs = e.numInputs;
        m.numOutputs = e.numOutputs;
        m.circuitDigest = e.circuitDigest;
        if (e.pendingEffectiveAt != 0 && block.timestamp >= e.pendingEffectiveAt) {
            m.verifier = e.pendingVerifier;
            m.verifierCodeHash = e.pendingCodeHash;
            m.metadataURI = e.pendingMetadataURI;
        } else {
            m.verifier = e.verifier;
            m.verifierCodeHash = e.verifierCodeHash;
            m.metadataURI = e.metadataURI;
            m.pendingVerifier = e.pendingVerifier;
            m.pendingCodeHash = e.pendingCodeHash;
            m.pendingEffectiveAt = e.pendingEffectiveAt;
            m.pendingMetadataURI = e.pendingMetadataURI;
        }
    }

    /// @notice What a job on `modelId` needs, as effective at this block: the
    ///         verifier and the instance counts. Reverts `UnknownModel`.
    function resolve(bytes32 modelId) external view returns (address verifier, uint32 numInputs, uint32 numOutputs) {
        Entry storage e = models[modelId];
        if (e.owner == address(0)) revert UnknownModel(modelId);
        uint64 at = e.pendingEffectiveAt;
        verifier = (at != 0 && block.timestamp >= at) ? e.pendingVerifier : e.verifier;
        return (verifier, e.numInputs, e.numOutputs);
    }

    /// @notice Whether `modelId` is registered.
    function isRegistered(bytes32 modelId) external view returns (bool) {
        return models[modelId].owner != address(0);
    }

    /// Folds an update that has taken effect into the entry.
    function settle(bytes32 modelId, Entry storage e) private {
        uint64 at = e.pendingEffectiveAt;
        if (at == 0 || block.timestamp < at) return;
        e.verifier = e.pendingVerifier;
        e.verifierCodeHash = e.pendingCodeHash;
        e.metadataURI = e.pendingMetadataURI;
        emit ModelUpdated(modelId, e.verifier, e.verifierCodeHash, at);
        clearPending(e);
    }

    function clearPending(Entry storage e) private {
        e.pendingVerifier = address(0);
        e.pendingCodeHash = bytes32(0);
        e.pendingEffectiveAt = 0;
        delete e.pendingMetadataURI;
    }

    function ownedBy(bytes32 modelId, address caller) private view returns (Entry storage e) {
        e = models[modelId];
        if (e.owner == address(0)) revert UnknownModel(modelId);
        if (e.owner != caller) revert NotModelOwner(modelId, caller);
    }
}
