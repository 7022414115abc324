// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ModelRegistry
/// @notice Maps a model id (keccak256 of the model's halo2 verifying key) to the
///         contract that verifies its proofs, the model's owner and a metadata URI.
/// @dev The first registrant of an id owns it. Anyone can regenerate the verifier
///      from the verifying key (`zkinfer evm export`) and compare its runtime code
///      hash with `verifierCodeHash` before trusting a registration.
contract ModelRegistry {
    struct Model {
        /// The EVM verifier: calldata = inputs ‖ outputs ‖ binding (32-byte words) ‖ proof.
        address verifier;
        /// Who may update or transfer the entry.
        address owner;
        /// Number of public input instances (quantized inputs).
        uint32 numInputs;
        /// Number of public output instances (quantized outputs).
        uint32 numOutputs;
        /// `extcodehash` of the verifier at registration or last update.
        bytes32 verifierCodeHash;
        /// Where the model's files (ONNX, compiled model, keys) are described.
        string metadataURI;
    }

    mapping(bytes32 => Model) private models;

    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed owner,
        address verifier,
        uint32 numInputs,
        uint32 numOutputs,
        string metadataURI
    );
    event ModelUpdated(bytes32 indexed modelId, address verifier, string metadataURI);
    event ModelTransferred(bytes32 indexed modelId, address indexed from, address indexed to);

    error AlreadyRegistered(bytes32 modelId);
    error UnknownModel(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error NotAContract(address verifier);
    error NoInstances();
    error ZeroAddress();

    /// @notice Registers `modelId`, owned by the caller.
    function register(
        bytes32 modelId,
        address verifier,
        uint32 numInputs,
        uint32 numOutputs,
        string calldata metadataURI
    ) external {
        if (models[modelId].owner != address(0)) revert AlreadyRegistered(modelId);
        if (verifier.code.length == 0) revert NotAContract(verifier);
        if (numOutputs == 0) revert NoInstances();
        models[modelId] = Model({
            verifier: verifier,
            owner: msg.sender,
            numInputs: numInputs,
            numOutputs: numOutputs,
            verifierCodeHash: verifier.codehash,
            metadataURI: metadataURI
        });
        emit ModelRegistered(modelId, msg.sender, verifier, numInputs, numOutputs, metadataURI);
    }

    /// @notice Points `modelId` at a new verifier and metadata URI; only its owner.
    function update(bytes32 modelId, address verifier, string calldata metadataURI) external {
        Model storage m = ownedBy(modelId, msg.sender);
        if (verifier.code.length == 0) revert NotAContract(verifier);
        m.verifier = verifier;
        m.verifierCodeHash = verifier.codehash;
        m.metadataURI = metadataURI;
        emit ModelUpdated(modelId, verifier, metadataURI);
    }

    /// @notice Hands `modelId` to `newOwner`; only its owner.
    function transfer(bytes32 modelId, address newOwner) external {
        if (newOwner == address(0)) revert ZeroAddress();
        Model storage m = ownedBy(modelId, msg.sender);
        m.owner = newOwner;
        emit ModelTransferred(modelId, msg.sender, newOwner);
    }

    /// @notice The entry of `modelId`; reverts `UnknownModel` when there is none.
    function get(bytes32 modelId) external view returns (Model memory) {
        Model memory m = models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        return m;
    }

    /// @notice Whether `modelId` is registered.
    function isRegistered(bytes32 modelId) external view returns (bool) {
        return models[modelId].owner != address(0);
    }

    function ownedBy(bytes32 modelId, address caller) private view returns (Model storage m) {
        m = models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.owner != caller) revert NotModelOwner(modelId, caller);
    }
}
