// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAgreementRegistry} from "../interfaces/IAgreementRegistry.sol";
import {ISensorFeed, ISensorFeedProofs} from "../interfaces/ISensorFeed.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";
import {ReadingCodec} from "../libraries/ReadingCodec.sol";

/// @title TwinLedger agreements: escrowed terms settled by proven sensor readings.
/// @notice See {IAgreementRegistry} for the model. Proofs are checked by `SensorFeed` (`verifyReading`,
///         `verifyBatch`); values are read from the reading's own canonical bytes by {ReadingCodec}.
/// @dev Payouts are pulled (`withdraw`), so no party can block a settlement by refusing ether. Every loop
///      runs over at most {MAX_PARTIES} parties or {MAX_CONDITIONS} conditions.
contract AgreementRegistry is IAgreementRegistry, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Most parties of one agreement.
    uint256 public constant MAX_PARTIES = 8;

    /// @notice Most conditions of one agreement.
    uint256 public constant MAX_CONDITIONS = 8;

    /// @notice The sensor feed registry whose anchors prove readings and batches.
    ISensorFeed public immutable feeds;

    /// @notice The Specification registry whose program calls can be a delivery event.
    ISpecification public immutable programs;

    struct Record {
        Terms terms;
        address creator;
        Status status;
        Outcome outcome;
        uint8 partyCount;
        uint8 conditionCount;
        uint8 acceptedCount;
        uint64 deliveredAt;
        uint64 lastCoverageAt;
        uint256 escrow;
        uint256 callFloor;
    }

    struct PartyState {
        bool accepted;
        bool withdrawn;
    }

    uint256 private _count;
    mapping(uint256 id => Record) private _records;
    mapping(uint256 id => mapping(uint256 index => Party)) private _parties;
    mapping(uint256 id => mapping(uint256 index => PartyState)) private _partyStates;
    mapping(uint256 id => mapping(address account => uint256 numberPlusOne)) private _partyNumber;
    mapping(uint256 id => mapping(uint256 index => Condition)) private _conditions;
    mapping(uint256 id => mapping(uint256 index => uint64)) private _coveredAt;

    /// @param feeds_ The SensorFeed contract.
    /// @param programs_ The Specification contract (its program calls).
    constructor(ISensorFeed feeds_, ISpecification programs_) {
        if (address(feeds_) == address(0) || address(programs_) == address(0)) revert ZeroAddress();
        feeds = feeds_;
        programs = programs_;
    }

    // ---------------------------------------------------------------------------------------------
    // Proposal and acceptance
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementRegistry
    function create(Terms calldata terms, Party[] calldata parties, Condition[] calldata conditions)
        external
        returns (uint256 id)
    {
        uint256 n = parties.length;
        uint256 m = conditions.length;
        if (n == 0 || n > MAX_PARTIES) revert InvalidPartyCount(n, MAX_PARTIES);
        bool hasDelivery = terms.delivery.kind != DeliveryKind.None;
        if (m > MAX_CONDITIONS || (m == 0 && !hasDelivery)) revert InvalidConditionCount(m, MAX_CONDITIONS);
        _checkPeriod(terms);

        id = ++_count;
        Record storage rec = _records[id];
        rec.escrow = _storeParties(id, parties);
        _storeConditions(id, conditions, terms.twin);
        if (hasDelivery) _checkDelivery(terms, n);
        rec.terms = terms;
        rec.creator = msg.sender;
        rec.status = Status.Proposed;
        rec.partyCount = uint8(n);
        rec.conditionCount = uint8(m);
        emit AgreementCreated(id, terms.twin, msg.sender, terms.token, rec.escrow);
    }

    /// @inheritdoc IAgreementRegistry
    function accept(uint256 id) external payable nonReentrant {
        Record storage rec = _existing(id);
        if (rec.status != Status.Proposed) revert WrongStatus(id, rec.status);
        uint64 start = rec.terms.start;
        if (_nowMs() >= start) revert AcceptanceClosed(id, start);
        uint256 index = _partyIndex(id, msg.sender);
        PartyState storage ps = _partyStates[id][index];
        if (ps.accepted) revert AlreadyAccepted(id, msg.sender);
        uint256 deposit = _parties[id][index].deposit;
        address token = rec.terms.token;
        uint256 expected = token == address(0) ? deposit : 0;
        if (msg.value != expected) revert WrongDeposit(expected, msg.value);

        ps.accepted = true;
        uint8 accepted = rec.acceptedCount + 1;
        rec.acceptedCount = accepted;
        emit AgreementAccepted(id, uint8(index), msg.sender, deposit);
        if (accepted == rec.partyCount) {
            uint256 floor = programs.callCount();
            rec.status = Status.Active;
            rec.callFloor = floor;
            emit AgreementActivated(id, floor);
        }
        if (token != address(0) && deposit != 0) {
            IERC20(token).safeTransferFrom(msg.sender, address(this), deposit);
        }
    }

    /// @inheritdoc IAgreementRegistry
    function cancel(uint256 id) external {
        Record storage rec = _existing(id);
        if (rec.status != Status.Proposed) revert WrongStatus(id, rec.status);
        uint64 start = rec.terms.start;
        if (_nowMs() < start) revert NotStarted(id, start);
        rec.status = Status.Cancelled;
        rec.outcome = Outcome.Cancelled;
        emit AgreementCancelled(id, msg.sender);
    }

    // ---------------------------------------------------------------------------------------------
    // Proofs
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementRegistry
    function proveBreach(
        uint256 id,
        uint8 condition,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata header,
        bytes calldata reading,
        bytes32[] calldata proof
    ) external {
        Record storage rec = _active(id);
        Condition storage c = _condition(id, rec, condition);
        ReadingCodec.Reading memory r = ReadingCodec.decode(reading);
        if (r.sensor != c.sensor) revert WrongSensor(c.sensor, r.sensor);
        (uint64 start, uint64 end) = (rec.terms.start, rec.terms.end);
        if (r.tMs < start || r.tMs > end) revert OutsidePeriod(r.tMs, start, end);
        uint64 key = ReadingCodec.orderKey(r.valueBits);
        if (key >= c.minKey && key <= c.maxKey) revert ValueWithinBounds(key, c.minKey, c.maxKey);
        bytes32 readingHash = keccak256(reading);
        _requireReading(c.feedId, seq, header, readingHash, proof);

        rec.status = Status.Breached;
        emit RangeBreachProven(id, condition, seq, r.tMs, key, readingHash, msg.sender);
    }

    /// @inheritdoc IAgreementRegistry
    function proveGap(
        uint256 id,
        uint8 condition,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata prev,
        ISensorFeedProofs.BatchHeader calldata next
    ) external {
        Record storage rec = _active(id);
        Condition storage c = _condition(id, rec, condition);
        (uint64 start, uint64 end) = (rec.terms.start, rec.terms.end);
        uint256 feedId = c.feedId;
        _requireBatch(feedId, seq, next);
        uint64 gapFrom = start;
        if (seq != 0) {
            _requireBatch(feedId, seq - 1, prev);
            if (prev.tLast > gapFrom) gapFrom = prev.tLast;
        }
        uint64 gapTo = next.tFirst < end ? next.tFirst : end;
        uint64 gap = gapTo > gapFrom ? gapTo - gapFrom : 0;
        uint64 maxGap = c.maxGapMs;
        if (maxGap == 0 || gap <= maxGap) revert GapWithinLimit(gap, maxGap);

        rec.status = Status.Breached;
        emit GapProven(id, condition, seq, gapFrom, gapTo, msg.sender);
    }

    /// @inheritdoc IAgreementRegistry
    function proveCoverage(uint256 id, uint8 condition, uint64 seq, ISensorFeedProofs.BatchHeader calldata header)
        external
    {
        Record storage rec = _active(id);
        Condition storage c = _condition(id, rec, condition);
        if (_coveredAt[id][condition] != 0) revert CoverageAlreadyProven(id, condition);
        uint64 end = rec.terms.end;
        uint64 maxGap = c.maxGapMs;
        uint64 needed = maxGap < end ? end - maxGap : 0;
        if (maxGap == 0 || header.tLast < needed) revert NotCovering(header.tLast, needed);
        _requireBatch(c.feedId, seq, header);

        uint64 nowMs = _nowMs();
        _coveredAt[id][condition] = nowMs;
        rec.lastCoverageAt = nowMs;
        emit CoverageProven(id, condition, seq, header.tLast, msg.sender);
    }

    // ---------------------------------------------------------------------------------------------
    // Delivery
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementRegistry
    function confirmDelivery(uint256 id) external {
        Record storage rec = _deliverable(id, DeliveryKind.Confirmation);
        if (_parties[id][rec.terms.delivery.confirmer].account != msg.sender) revert NotAParty(id, msg.sender);
        _recordDelivery(id, rec, true, bytes32(uint256(uint160(msg.sender))));
    }

    /// @inheritdoc IAgreementRegistry
    function recordDeliveryCall(uint256 id, uint256 callId) external {
        Record storage rec = _deliverable(id, DeliveryKind.ProgramDone);
        (uint256 twin,, bytes32 program,, ISpecification.CallStatus status,,) = programs.programCall(callId);
        bytes32 wanted = rec.terms.delivery.program;
        if (
            twin != rec.terms.twin || status != ISpecification.CallStatus.Done || callId <= rec.callFloor
                || (wanted != bytes32(0) && program != wanted)
        ) revert CallNotDelivery(callId);
        _recordDelivery(id, rec, true, bytes32(callId));
    }

    /// @inheritdoc IAgreementRegistry
    function recordDeliveryReading(
        uint256 id,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata header,
        bytes calldata reading,
        bytes32[] calldata proof
    ) external {
        Record storage rec = _deliverable(id, DeliveryKind.Reading);
        Delivery storage d = rec.terms.delivery;
        ReadingCodec.Reading memory r = ReadingCodec.decode(reading);
        if (r.sensor != d.sensor) revert WrongSensor(d.sensor, r.sensor);
        (uint64 start, uint64 deadline) = (rec.terms.start, d.deadline);
        if (r.tMs < start || r.tMs > deadline) revert OutsidePeriod(r.tMs, start, deadline);
        uint64 key = ReadingCodec.orderKey(r.valueBits);
        if (key < d.minKey || key > d.maxKey) revert NotDeliveryValue(key, d.minKey, d.maxKey);
        bytes32 readingHash = keccak256(reading);
        _requireReading(d.feedId, seq, header, readingHash, proof);
        // The device-signed reading time proves the delivery was on time, whenever it is recorded.
        _recordDelivery(id, rec, false, readingHash);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementRegistry
    function settle(uint256 id) external returns (Outcome outcome) {
        Record storage rec = _existing(id);
        Status status = rec.status;
        if (status == Status.Settled) revert AlreadySettled(id);
        if (status == Status.Breached) {
            outcome = Outcome.Breached;
        } else if (status == Status.Active) {
            outcome = _outcomeAfterWindow(id, rec);
        } else {
            revert WrongStatus(id, status);
        }
        rec.status = Status.Settled;
        rec.outcome = outcome;
        emit AgreementSettled(id, outcome, msg.sender);
    }

    /// @inheritdoc IAgreementRegistry
    function withdraw(uint256 id) external nonReentrant returns (uint256 amount) {
        Record storage rec = _existing(id);
        Status status = rec.status;
        if (status != Status.Settled && status != Status.Cancelled) revert WrongStatus(id, status);
        uint256 index = _partyIndex(id, msg.sender);
        PartyState storage ps = _partyStates[id][index];
        amount = ps.withdrawn ? 0 : _payout(_parties[id][index], ps.accepted, rec.outcome);
        if (amount == 0) revert NothingToWithdraw(id, msg.sender);

        ps.withdrawn = true;
        emit PayoutWithdrawn(id, msg.sender, amount);
        address token = rec.terms.token;
        if (token == address(0)) {
            Address.sendValue(payable(msg.sender), amount);
        } else {
            IERC20(token).safeTransfer(msg.sender, amount);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementRegistry
    function agreement(uint256 id) external view returns (AgreementView memory) {
        Record storage rec = _existing(id);
        return AgreementView({
            terms: rec.terms,
            creator: rec.creator,
            status: rec.status,
            outcome: rec.outcome,
            partyCount: rec.partyCount,
            conditionCount: rec.conditionCount,
            acceptedCount: rec.acceptedCount,
            escrow: rec.escrow,
            deliveredAt: rec.deliveredAt,
            callFloor: rec.callFloor
        });
    }

    /// @inheritdoc IAgreementRegistry
    function partyAt(uint256 id, uint8 index) external view returns (Party memory party, bool accepted, bool withdrawn) {
        Record storage rec = _existing(id);
        if (index >= rec.partyCount) revert NotAParty(id, address(0));
        PartyState storage ps = _partyStates[id][index];
        return (_parties[id][index], ps.accepted, ps.withdrawn);
    }

    /// @inheritdoc IAgreementRegistry
    function conditionAt(uint256 id, uint8 index) external view returns (Condition memory condition, uint64 coveredAt) {
        Record storage rec = _existing(id);
        return (_condition(id, rec, index), _coveredAt[id][index]);
    }

    /// @inheritdoc IAgreementRegistry
    function agreementCount() external view returns (uint256) {
        return _count;
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    function _nowMs() private view returns (uint64) {
        return uint64(block.timestamp * 1000);
    }

    function _checkPeriod(Terms calldata terms) private view {
        (uint64 start, uint64 end) = (terms.start, terms.end);
        // The window's end is reported as a uint64 (ChallengeWindowOpen): it must fit.
        if (start <= _nowMs() || end <= start || uint256(end) + terms.challengeMs > type(uint64).max) {
            revert InvalidPeriod(start, end);
        }
    }

    /// @dev Stores the parties and checks that every payout column sums to the deposits; returns the escrow.
    function _storeParties(uint256 id, Party[] calldata parties) private returns (uint256 escrow) {
        uint256 completed;
        uint256 breached;
        uint256 expired;
        for (uint256 i; i < parties.length; ++i) {
            Party calldata p = parties[i];
            if (p.account == address(0)) revert ZeroAddress();
            if (_partyNumber[id][p.account] != 0) revert DuplicateParty(p.account);
            _partyNumber[id][p.account] = i + 1;
            _parties[id][i] = p;
            escrow += p.deposit;
            completed += p.onCompleted;
            breached += p.onBreached;
            expired += p.onExpired;
        }
        if (completed != escrow) revert PayoutMismatch(Outcome.Completed, completed, escrow);
        if (breached != escrow) revert PayoutMismatch(Outcome.Breached, breached, escrow);
        if (expired != escrow) revert PayoutMismatch(Outcome.Expired, expired, escrow);
    }

    function _storeConditions(uint256 id, Condition[] calldata conditions, uint256 twin) private {
        for (uint256 i; i < conditions.length; ++i) {
            Condition calldata c = conditions[i];
            if (c.minKey > c.maxKey || !_feedOfTwin(c.feedId, twin)) revert InvalidCondition(i);
            _conditions[id][i] = c;
        }
    }

    function _checkDelivery(Terms calldata terms, uint256 partyCount) private view {
        Delivery calldata d = terms.delivery;
        if (d.deadline <= terms.start || d.deadline > terms.end) revert InvalidDelivery();
        if (d.kind == DeliveryKind.Confirmation && d.confirmer >= partyCount) revert InvalidDelivery();
        if (d.kind == DeliveryKind.Reading && (d.minKey > d.maxKey || !_feedOfTwin(d.feedId, terms.twin))) {
            revert InvalidDelivery();
        }
    }

    function _feedOfTwin(uint256 feedId, uint256 twin) private view returns (bool) {
        try feeds.twinOf(feedId) returns (uint256 feedTwin) {
            return feedTwin == twin;
        } catch {
            return false;
        }
    }

    function _existing(uint256 id) private view returns (Record storage rec) {
        rec = _records[id];
        if (rec.status == Status.None) revert UnknownAgreement(id);
    }

    function _active(uint256 id) private view returns (Record storage rec) {
        rec = _existing(id);
        if (rec.status == Status.Settled) revert AlreadySettled(id);
        if (rec.status != Status.Active) revert WrongStatus(id, rec.status);
    }

    function _condition(uint256 id, Record storage rec, uint8 index) private view returns (Condition storage) {
        if (index >= rec.conditionCount) revert UnknownCondition(id, index);
        return _conditions[id][index];
    }

    function _partyIndex(uint256 id, address account) private view returns (uint256) {
        uint256 number = _partyNumber[id][account];
        if (number == 0) revert NotAParty(id, account);
        return number - 1;
    }

    function _deliverable(uint256 id, DeliveryKind kind) private view returns (Record storage rec) {
        rec = _active(id);
        DeliveryKind expected = rec.terms.delivery.kind;
        if (expected != kind) revert WrongDeliveryKind(expected);
        if (rec.deliveredAt != 0) revert DeliveryAlreadyRecorded(id);
    }

    function _recordDelivery(uint256 id, Record storage rec, bool checkDeadline, bytes32 ref) private {
        uint64 nowMs = _nowMs();
        uint64 deadline = rec.terms.delivery.deadline;
        if (checkDeadline && nowMs > deadline) revert DeliveryTooLate(deadline, nowMs);
        rec.deliveredAt = nowMs;
        emit DeliveryRecorded(id, rec.terms.delivery.kind, ref, nowMs, msg.sender);
    }

    function _requireBatch(uint256 feedId, uint64 seq, ISensorFeedProofs.BatchHeader calldata h) private view {
        if (!feeds.verifyBatch(feedId, seq, h)) revert BatchNotProven(feedId, seq);
    }

    function _requireReading(
        uint256 feedId,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata h,
        bytes32 readingHash,
        bytes32[] calldata proof
    ) private view {
        if (!feeds.verifyReading(feedId, seq, h, readingHash, proof)) revert ReadingNotProven(feedId, seq);
    }

    /// @dev The outcome of an active agreement once its window closed: Breached if some coverage was never
    ///      shown, Expired if the delivery is missing, else Completed.
    function _outcomeAfterWindow(uint256 id, Record storage rec) private view returns (Outcome) {
        uint256 challenge = rec.terms.challengeMs;
        uint256 until = rec.terms.end + challenge;
        uint256 lastCoverage = rec.lastCoverageAt;
        if (lastCoverage != 0 && lastCoverage + challenge > until) until = lastCoverage + challenge;
        if (_nowMs() < until) revert ChallengeWindowOpen(id, uint64(until));
        uint256 m = rec.conditionCount;
        for (uint256 i; i < m; ++i) {
            if (_conditions[id][i].maxGapMs != 0 && _coveredAt[id][i] == 0) return Outcome.Breached;
        }
        if (rec.terms.delivery.kind != DeliveryKind.None && rec.deliveredAt == 0) return Outcome.Expired;
        return Outcome.Completed;
    }

    function _payout(Party storage p, bool accepted, Outcome outcome) private view returns (uint256) {
        if (outcome == Outcome.Completed) return p.onCompleted;
        if (outcome == Outcome.Breached) return p.onBreached;
        if (outcome == Outcome.Expired) return p.onExpired;
        if (outcome == Outcome.Cancelled && accepted) return p.deposit;
        return 0;
    }
}
