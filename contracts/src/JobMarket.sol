// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @title JobMarket
/// @notice Requesters post inference jobs with an ERC20 bounty in escrow; a prover
///         is paid only when the model's verifier accepts its proof.
/// @dev The verifier's public instances are the job's quantized inputs, then the
///      quantized outputs, then one binding element
///      `uint256(keccak256(abi.encodePacked(jobId, prover))) % R`, which ties a
///      proof to this job and to the address that submits it: a proof copied from
///      the mempool is worthless to anyone else. Job ids are hashes of
///      (chain id, this contract, a counter), so a proof is also worthless on
///      another market or chain.
///
///      What a requester pays for is pinned when the job is posted: the caller names
///      the code hash of the verifier it expects, `postJob` reverts unless the
///      model's effective verifier (ModelRegistry) has exactly that code, and the job
///      keeps that verifier, its code hash and the model's instance counts. A later
///      registry update changes nothing for a posted job; `submitProof` checks that
///      the verifier still has the pinned code before it trusts its answer.
contract JobMarket is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// The BN254 scalar field modulus: every instance is below it.
    uint256 public constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// The latest deadline a job may have, counted from the block it is posted in.
    uint64 public constant MAX_JOB_DURATION = 30 days;
    /// How long a job stays open for proofs after its poster cancels it.
    uint64 public constant CANCEL_GRACE = 1 hours;

    enum Status {
        None,
        Open,
        Settled,
        Refunded
    }

    struct Job {
        bytes32 modelId;
        /// The model's verifier when the job was posted: a later registry update
        /// cannot change what settles an open job.
        address verifier;
        /// Number of output instances of the model (fixed at post time).
        uint32 numOutputs;
        /// The verifier's runtime code hash, as pinned by the poster.
        bytes32 verifierCodeHash;
        address poster;
        /// Last second a proof is accepted; a cancellation brings it forward.
        uint64 deadline;
        Status status;
        address prover;
        uint256 bounty;
    }

    IERC20 public immutable token;
    ModelRegistry public immutable registry;
    uint256 public jobCount;

    mapping(uint256 => Job) private jobs;
    mapping(uint256 => uint256[]) private jobInputs;
    mapping(uint256 => uint256[]) private jobOutputs;

    event JobPosted(
        uint256 indexed jobId,
        bytes32 indexed modelId,
        address indexed poster,
        uint256 bounty,
        uint64 deadline,
        address verifier,
        bytes32 verifierCodeHash,
        uint256[] inputs
    );
    event JobSettled(uint256 indexed jobId, address indexed prover, uint256 bounty, uint256[] outputs);
    /// The poster cancelled the job: proofs are accepted until `deadline` (now
    /// `CANCEL_GRACE` away), then the bounty can be refunded.
    event JobCancelled(uint256 indexed jobId, uint64 deadline);
    event JobRefunded(uint256 indexed jobId, address indexed poster, uint256 bounty);

    error UnknownJob(uint256 jobId);
    error JobNotOpen(uint256 jobId, Status status);
    error DeadlinePassed(uint256 jobId, uint64 deadline);
    error DeadlineNotPassed(uint256 jobId, uint64 deadline);
    error BadDeadline(uint64 deadline, uint256 latest);
    error ZeroBounty();
    error WrongInstanceCount(uint256 expected, uint256 got);
    error NotAFieldElement(uint256 index);
    error InvalidProof(uint256 jobId);
    error NoVerifierCode(address verifier);
    error VerifierMismatch(bytes32 modelId, bytes32 expectedCodeHash, bytes32 actualCodeHash);
    error VerifierCodeChanged(uint256 jobId, bytes32 expectedCodeHash, bytes32 actualCodeHash);
    error NotPoster(uint256 jobId, address caller);
    error DeadlineWithinGrace(uint256 jobId, uint64 deadline);

    constructor(IERC20 token_, ModelRegistry registry_) {
        token = token_;
        registry = registry_;
    }

    /// @notice Posts a job on `modelId` with the quantized `inputs` (field elements,
    ///         negatives as R - |x|) and escrows `bounty` tokens from the caller
    ///         (approve first). A prover must settle it by `deadline` (unix seconds,
    ///         at most `MAX_JOB_DURATION` ahead). `verifierCodeHash` is the runtime
    ///         code hash of the verifier the caller expects (`zkinfer evm export`
    ///         prints it): the call reverts `VerifierMismatch` unless the model's
    ///         effective verifier has exactly that code.
    function postJob(
        bytes32 modelId,
        bytes32 verifierCodeHash,
        uint256[] calldata inputs,
        uint256 bounty,
        uint64 deadline
    ) external nonReentrant returns (uint256 jobId) {
        (address verifier, uint32 numOutputs) = pinVerifier(modelId, verifierCodeHash, inputs.length);
        checkField(inputs);
        if (bounty == 0) revert ZeroBounty();
        checkDeadline(deadline);
        uint256 received = escrow(bounty);

        jobId = uint256(keccak256(abi.encode(block.chainid, address(this), jobCount)));
        jobCount += 1;
        jobs[jobId] = Job({
            modelId: modelId,
            verifier: verifier,
            numOutputs: numOutputs,
            verifierCodeHash: verifierCodeHash,
            poster: msg.sender,
            deadline: deadline,
            status: Status.Open,
            prover: address(0),
            bounty: received
        });
        jobInputs[jobId] = inputs;
        emit JobPosted(jobId, modelId, msg.sender, received, deadline, verifier, verifierCodeHash, inputs);
    }

    /// @notice Settles `jobId` with the model's `outputs` and a proof bound to the
    ///         caller; pays the caller the bounty. Reverts `InvalidProof` when the
    ///         verifier rejects (no funds move), `NoVerifierCode` or
    ///         `VerifierCodeChanged` when the job's verifier no longer has the
    ///         code the job was posted with.
    function submitProof(uint256 jobId, uint256[] calldata outputs, bytes calldata proof) external nonReentrant {
        Job storage job = openJob(jobId);
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline);
        uint256 numOutputs = job.numOutputs;
        if (outputs.length != numOutputs) revert WrongInstanceCount(numOutputs, outputs.length);
        checkField(outputs);
        // A call to an address without code succeeds: never trust it.
        address verifier = job.verifier;
        if (verifier.code.length == 0) revert NoVerifierCode(verifier);
        bytes32 codeHash = verifier.codehash;
        if (codeHash != job.verifierCodeHash) revert VerifierCodeChanged(jobId, job.verifierCodeHash, codeHash);

        uint256 binding = bindingOf(jobId, msg.sender);
        bytes memory data = abi.encodePacked(jobInputs[jobId], outputs, binding, proof);
        // The verifier returns nothing on success and reverts on rejection; its
        // return data is not copied.
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), verifier, add(data, 0x20), mload(data), 0, 0)
        }
        if (!ok) revert InvalidProof(jobId);

        job.status = Status.Settled;
        job.prover = msg.sender;
        jobOutputs[jobId] = outputs;
        uint256 bounty = job.bounty;
        emit JobSettled(jobId, msg.sender, bounty, outputs);
        token.safeTransfer(msg.sender, bounty);
    }

    /// @notice Cancels an open job; only its poster. The job stays open for proofs
    ///         for `CANCEL_GRACE` more seconds (its deadline moves to now +
    ///         `CANCEL_GRACE`), so a prover already at work, or whose proof is in the
    ///         mempool, is not robbed of the bounty; after that `refund` returns it.
    ///         Reverts `DeadlineWithinGrace` when the deadline is that close already.
    function cancel(uint256 jobId) external {
        Job storage job = openJob(jobId);
        if (msg.sender != job.poster) revert NotPoster(jobId, msg.sender);
        uint64 deadline = uint64(block.timestamp) + CANCEL_GRACE;
        if (deadline >= job.deadline) revert DeadlineWithinGrace(jobId, job.deadline);
        job.deadline = deadline;
        emit JobCancelled(jobId, deadline);
    }

    /// @notice Returns the bounty of an unsettled job to its poster once its
    ///         deadline has passed; anyone may call it.
    function refund(uint256 jobId) external nonReentrant {
        Job storage job = openJob(jobId);
        if (block.timestamp <= job.deadline) revert DeadlineNotPassed(jobId, job.deadline);
        job.status = Status.Refunded;
        emit JobRefunded(jobId, job.poster, job.bounty);
        token.safeTransfer(job.poster, job.bounty);
    }

    /// @notice The binding element a prover at `prover` must prove for `jobId`.
    function bindingOf(uint256 jobId, address prover) public pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(jobId, prover))) % R;
    }

    function getJob(uint256 jobId) external view returns (Job memory) {
        Job memory job = jobs[jobId];
        if (job.status == Status.None) revert UnknownJob(jobId);
        return job;
    }

    function getInputs(uint256 jobId) external view returns (uint256[] memory) {
        return jobInputs[jobId];
    }

    function getOutputs(uint256 jobId) external view returns (uint256[] memory) {
        return jobOutputs[jobId];
    }

    /// The model's effective verifier and output count; reverts unless the verifier
    /// has the code hash the poster expects and `numInputs` is the model's.
    function pinVerifier(bytes32 modelId, bytes32 expectedCodeHash, uint256 numInputsGiven)
        private
        view
        returns (address verifier, uint32 numOutputs)
    {
        uint32 numInputs;
        (verifier, numInputs, numOutputs) = registry.resolve(modelId);
        if (verifier.code.length == 0) revert NoVerifierCode(verifier);
        bytes32 codeHash = verifier.codehash;
        if (codeHash != expectedCodeHash) revert VerifierMismatch(modelId, expectedCodeHash, codeHash);
        if (numInputsGiven != numInputs) revert WrongInstanceCount(numInputs, numInputsGiven);
    }

    function checkDeadline(uint64 deadline) private view {
        uint256 latest = block.timestamp + MAX_JOB_DURATION;
        if (deadline <= block.timestamp || deadline > latest) revert BadDeadline(deadline, latest);
    }

    /// Takes `bounty` from the caller; returns what actually arrived (fee-on-transfer tokens).
    function escrow(uint256 bounty) private returns (uint256 received) {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), bounty);
        received = token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroBounty();
    }

    function openJob(uint256 jobId) private view returns (Job storage job) {
        job = jobs[jobId];
        if (job.status == Status.None) revert UnknownJob(jobId);
        if (job.status != Status.Open) revert JobNotOpen(jobId, job.status);
    }

    function checkField(uint256[] calldata xs) private pure {
        for (uint256 i = 0; i < xs.length; i++) {
            if (xs[i] >= R) revert NotAFieldElement(i);
        }
    }
}
