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
contract JobMarket is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// The BN254 scalar field modulus: every instance is below it.
    uint256 public constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    enum Status {
        None,
        Open,
        Settled,
        Refunded
    }

    struct Job {
        bytes32 modelId;
        /// The verifier registered for the model when the job was posted: a later
        /// registry update cannot change what settles an open job.
        address verifier;
        address poster;
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
        uint256[] inputs
    );
    event JobSettled(uint256 indexed jobId, address indexed prover, uint256 bounty, uint256[] outputs);
    event JobRefunded(uint256 indexed jobId, address indexed poster, uint256 bounty);

    error UnknownJob(uint256 jobId);
    error JobNotOpen(uint256 jobId, Status status);
    error DeadlinePassed(uint256 jobId, uint64 deadline);
    error DeadlineNotPassed(uint256 jobId, uint64 deadline);
    error BadDeadline(uint64 deadline);
    error ZeroBounty();
    error WrongInstanceCount(uint256 expected, uint256 got);
    error NotAFieldElement(uint256 index);
    error InvalidProof(uint256 jobId);

    constructor(IERC20 token_, ModelRegistry registry_) {
        token = token_;
        registry = registry_;
    }

    /// @notice Posts a job on `modelId` with the quantized `inputs` (field elements,
    ///         negatives as R - |x|) and escrows `bounty` tokens from the caller
    ///         (approve first). A prover must settle it by `deadline` (unix seconds).
    function postJob(bytes32 modelId, uint256[] calldata inputs, uint256 bounty, uint64 deadline)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        ModelRegistry.Model memory m = registry.get(modelId);
        if (inputs.length != m.numInputs) revert WrongInstanceCount(m.numInputs, inputs.length);
        checkField(inputs);
        if (bounty == 0) revert ZeroBounty();
        if (deadline <= block.timestamp) revert BadDeadline(deadline);

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), bounty);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received == 0) revert ZeroBounty();

        jobId = uint256(keccak256(abi.encode(block.chainid, address(this), jobCount)));
        jobCount += 1;
        jobs[jobId] = Job({
            modelId: modelId,
            verifier: m.verifier,
            poster: msg.sender,
            deadline: deadline,
            status: Status.Open,
            prover: address(0),
            bounty: received
        });
        jobInputs[jobId] = inputs;
        emit JobPosted(jobId, modelId, msg.sender, received, deadline, inputs);
    }

    /// @notice Settles `jobId` with the model's `outputs` and a proof bound to the
    ///         caller; pays the caller the bounty. Reverts `InvalidProof` when the
    ///         verifier rejects (no funds move).
    function submitProof(uint256 jobId, uint256[] calldata outputs, bytes calldata proof) external nonReentrant {
        Job storage job = openJob(jobId);
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline);
        uint256 numOutputs = registry.get(job.modelId).numOutputs;
        if (outputs.length != numOutputs) revert WrongInstanceCount(numOutputs, outputs.length);
        checkField(outputs);

        uint256 binding = bindingOf(jobId, msg.sender);
        bytes memory data = abi.encodePacked(jobInputs[jobId], outputs, binding, proof);
        // The verifier returns nothing on success and reverts on rejection; the
        // registry checked that it has code.
        (bool ok,) = job.verifier.staticcall(data);
        if (!ok) revert InvalidProof(jobId);

        job.status = Status.Settled;
        job.prover = msg.sender;
        jobOutputs[jobId] = outputs;
        uint256 bounty = job.bounty;
        emit JobSettled(jobId, msg.sender, bounty, outputs);
        token.safeTransfer(msg.sender, bounty);
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
