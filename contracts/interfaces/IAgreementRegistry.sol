// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISensorFeedProofs} from "./ISensorFeed.sol";

/// @title Agreements settled by proven sensor readings: one registry for every agreement.
/// @notice An agreement binds up to {MAX_PARTIES} parties (each with a role such as seller, carrier,
///         buyer) to conditions over the sensor feeds of one twin for a period, and holds their deposits in
///         escrow (one ERC-20 token, or ether). Every party accepts on-chain, paying its deposit, before the
///         period starts; from then on nothing about the agreement can change.
///
///         Conditions (at most {MAX_CONDITIONS}), each over one (feed, sensor) of the twin:
///         - range: every reading of the sensor with a time in `[start, end]` has a value in `[min, max]`;
///         - coverage (when `maxGapMs > 0`): within `[start, end]` no stretch longer than `maxGapMs` lies
///           between two consecutive anchored batches (or between `start` and the feed's first batch),
///           and some anchored batch reaches `end - maxGapMs`.
///         A delivery event may be required before a deadline: the confirmation of a named party, a program
///         call on the twin that finished Done, or a proven reading of a (feed, sensor) within a range.
///
///         Breaches are proven, not asserted: anyone may submit a reading (its canonical bytes, its batch
///         header and its Merkle proof, checked by `SensorFeed.verifyReading`) whose value is out of range,
///         or two consecutive batch headers (checked by `SensorFeed.verifyBatch`) whose times leave a gap. The
///         agreement is then breached at once. Otherwise, after `end` and a challenge window, anyone may
///         settle: Completed if coverage was shown and the delivery happened, Expired if the delivery did not,
///         Breached if coverage was never shown. Each party then withdraws what the terms give it for that
///         outcome.
/// @dev All times are milliseconds since the Unix epoch, on the readings' clock; the chain's time is
///      `block.timestamp * 1000`. Values are compared through `ReadingCodec.orderKey`, so bounds are the
///      order keys of doubles (the CLI converts).
interface IAgreementRegistry {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice Life cycle: Proposed (accepting) -> Active -> Breached -> Settled, or Active -> Settled, or
    ///         Proposed -> Cancelled (not every party accepted before the start).
    enum Status {
        None,
        Proposed,
        Active,
        Breached,
        Settled,
        Cancelled
    }

    /// @notice How an agreement was settled, which selects each party's payout.
    enum Outcome {
        None,
        Completed,
        Breached,
        Expired,
        Cancelled
    }

    /// @notice The kind of delivery event the agreement requires before its deadline (None: no delivery).
    enum DeliveryKind {
        None,
        Confirmation,
        ProgramDone,
        Reading
    }

    /// @notice A party: its account, its role (e.g. `keccak256("buyer")`), the deposit it pays on accepting,
    ///         and what it is paid on each outcome. Over all parties, each payout column sums to the deposits.
    struct Party {
        address account;
        bytes32 role;
        uint256 deposit;
        uint256 onCompleted;
        uint256 onBreached;
        uint256 onExpired;
    }

    /// @notice A condition over one (feed, sensor): values within `[minKey, maxKey]` (order keys of doubles)
    ///         and, when `maxGapMs > 0`, coverage with no gap longer than `maxGapMs`. `sensor` is keccak256 of
    ///         the sensor name as it appears in the readings' `s`.
    struct Condition {
        uint256 feedId;
        bytes32 sensor;
        uint64 minKey;
        uint64 maxKey;
        uint64 maxGapMs;
    }

    /// @notice The delivery event required before `deadline` (ms, within the period):
    ///         Confirmation: party number `confirmer` calls `confirmDelivery`;
    ///         ProgramDone: a call of `program` (any program if zero) on the twin, made after the agreement
    ///         became active, finished Done, recorded with `recordDeliveryCall`;
    ///         Reading: a proven reading of (`feedId`, `sensor`) with a value in `[minKey, maxKey]` and a time
    ///         in `[start, deadline]`, recorded with `recordDeliveryReading`.
    struct Delivery {
        DeliveryKind kind;
        uint64 deadline;
        uint8 confirmer;
        bytes32 program;
        uint256 feedId;
        bytes32 sensor;
        uint64 minKey;
        uint64 maxKey;
    }

    /// @notice What the agreement is about: the twin, the escrow token (`address(0)`: ether), the period
    ///         `[start, end]`, the challenge window after `end`, and the delivery event.
    struct Terms {
        uint256 twin;
        address token;
        uint64 start;
        uint64 end;
        uint64 challengeMs;
        Delivery delivery;
    }

    /// @notice The state of an agreement, as `agreement` returns it.
    struct AgreementView {
        Terms terms;
        address creator;
        Status status;
        Outcome outcome;
        uint8 partyCount;
        uint8 conditionCount;
        uint8 acceptedCount;
        uint256 escrow;
        uint64 deliveredAt;
        uint256 callFloor;
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice Agreement `id` on `twin` was proposed by `creator`, escrowing `escrow` of `token` in all.
    event AgreementCreated(
        uint256 indexed id, uint256 indexed twin, address indexed creator, address token, uint256 escrow
    );

    /// @notice `account`, party number `party` of agreement `id`, accepted the terms and paid `deposit`.
    event AgreementAccepted(uint256 indexed id, uint8 indexed party, address indexed account, uint256 deposit);

    /// @notice Every party of `id` accepted: the agreement is active and its terms are fixed. Program calls
    ///         with an id above `callFloor` may count as its delivery.
    event AgreementActivated(uint256 indexed id, uint256 callFloor);

    /// @notice Agreement `id` was cancelled by `account`: not every party accepted before the start.
    event AgreementCancelled(uint256 indexed id, address indexed account);

    /// @notice `prover` proved that a reading of condition `condition`, in batch `seq`, at time `tMs`, has a
    ///         value (order key `valueKey`) outside its bounds: agreement `id` is breached.
    event RangeBreachProven(
        uint256 indexed id, uint8 indexed condition, uint64 seq, uint64 tMs, uint64 valueKey, bytes32 readingHash, address prover
    );

    /// @notice `prover` proved a coverage gap `[gapFrom, gapTo]` (ms) of condition `condition` before batch
    ///         `seq`: agreement `id` is breached.
    event GapProven(uint256 indexed id, uint8 indexed condition, uint64 seq, uint64 gapFrom, uint64 gapTo, address prover);

    /// @notice `prover` showed that batch `seq`, ending at `tLast`, covers condition `condition` up to the end.
    event CoverageProven(uint256 indexed id, uint8 indexed condition, uint64 seq, uint64 tLast, address prover);

    /// @notice The delivery event of `id` happened (`kind`), recorded by `recorder`; `ref` is the call id, the
    ///         reading's hash or the confirmer's address.
    event DeliveryRecorded(uint256 indexed id, DeliveryKind kind, bytes32 ref, uint64 atMs, address recorder);

    /// @notice `settler` settled agreement `id` with `outcome`.
    event AgreementSettled(uint256 indexed id, Outcome outcome, address settler);

    /// @notice Party `account` of agreement `id` withdrew its payout `amount`.
    event PayoutWithdrawn(uint256 indexed id, address indexed account, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice A required address (a contract, a party) is zero.
    error ZeroAddress();

    /// @notice No agreement has id `id`.
    error UnknownAgreement(uint256 id);

    /// @notice An agreement has 1 to `max` parties; `count` were given.
    error InvalidPartyCount(uint256 count, uint256 max);

    /// @notice An agreement has at most `max` conditions, and at least one condition or a delivery event.
    error InvalidConditionCount(uint256 count, uint256 max);

    /// @notice `account` appears twice among the parties.
    error DuplicateParty(address account);

    /// @notice The period must start in the future and end after it starts, and no time may overflow.
    error InvalidPeriod(uint64 start, uint64 end);

    /// @notice Over the parties, the payouts for `outcome` sum to `payouts` instead of the deposits' `deposits`.
    error PayoutMismatch(Outcome outcome, uint256 payouts, uint256 deposits);

    /// @notice Condition `index` is malformed: its feed is not of the twin, or `minKey > maxKey`.
    error InvalidCondition(uint256 index);

    /// @notice The delivery event is malformed: deadline outside the period, unknown confirmer, feed not of
    ///         the twin, or `minKey > maxKey`.
    error InvalidDelivery();

    /// @notice `account` is not a party of agreement `id`.
    error NotAParty(uint256 id, address account);

    /// @notice `account` already accepted agreement `id`.
    error AlreadyAccepted(uint256 id, address account);

    /// @notice The deposit paid (`given`, ether) is not the one due (`expected`; zero when escrowing a token).
    error WrongDeposit(uint256 expected, uint256 given);

    /// @notice Agreement `id` is `status`, which does not allow this call.
    error WrongStatus(uint256 id, Status status);

    /// @notice Agreement `id` was already settled.
    error AlreadySettled(uint256 id);

    /// @notice Acceptance closed at the start `start` of agreement `id`.
    error AcceptanceClosed(uint256 id, uint64 start);

    /// @notice Agreement `id` can be cancelled only from its start `start` on.
    error NotStarted(uint256 id, uint64 start);

    /// @notice Agreement `id` has no condition number `index`.
    error UnknownCondition(uint256 id, uint256 index);

    /// @notice The header is not that of anchored batch `seq` of feed `feedId`.
    error BatchNotProven(uint256 feedId, uint64 seq);

    /// @notice The reading is not in anchored batch `seq` of feed `feedId` (forged reading, header or proof).
    error ReadingNotProven(uint256 feedId, uint64 seq);

    /// @notice The reading is of another sensor than the condition's.
    error WrongSensor(bytes32 expected, bytes32 given);

    /// @notice The reading's time `tMs` lies outside `[from, to]`.
    error OutsidePeriod(uint64 tMs, uint64 from, uint64 to);

    /// @notice The reading's value (order key `valueKey`) lies within `[minKey, maxKey]`: no breach.
    error ValueWithinBounds(uint64 valueKey, uint64 minKey, uint64 maxKey);

    /// @notice The gap `gapMs` within the period does not exceed `maxGapMs` (or the condition has no coverage).
    error GapWithinLimit(uint64 gapMs, uint64 maxGapMs);

    /// @notice Batch ending at `tLast` does not reach `needed` (= end - maxGapMs), or the condition has no coverage.
    error NotCovering(uint64 tLast, uint64 needed);

    /// @notice The coverage of condition `condition` of agreement `id` was already shown (a second proof would
    ///         only delay settlement).
    error CoverageAlreadyProven(uint256 id, uint8 condition);

    /// @notice The delivery reading's value (order key `valueKey`) lies outside `[minKey, maxKey]`.
    error NotDeliveryValue(uint64 valueKey, uint64 minKey, uint64 maxKey);

    /// @notice The challenge window of agreement `id` is open until `until` (ms).
    error ChallengeWindowOpen(uint256 id, uint64 until);

    /// @notice The agreement's delivery is of kind `expected`, not the one recorded.
    error WrongDeliveryKind(DeliveryKind expected);

    /// @notice The delivery of agreement `id` was already recorded.
    error DeliveryAlreadyRecorded(uint256 id);

    /// @notice The delivery deadline `deadline` (ms) passed at `nowMs`.
    error DeliveryTooLate(uint64 deadline, uint64 nowMs);

    /// @notice Program call `callId` does not count as the delivery: another twin or program, made before
    ///         the agreement became active, or not Done.
    error CallNotDelivery(uint256 callId);

    /// @notice `account` has nothing (more) to withdraw from agreement `id`.
    error NothingToWithdraw(uint256 id, address account);

    // ---------------------------------------------------------------------------------------------
    // Functions
    // ---------------------------------------------------------------------------------------------

    /// @notice Proposes an agreement. Anyone may propose; the agreement binds nobody until every party accepts.
    /// @param terms The twin, token, period, challenge window and delivery event.
    /// @param parties 1 to {MAX_PARTIES} distinct parties with their deposits and payouts.
    /// @param conditions Up to {MAX_CONDITIONS} conditions over feeds of the twin.
    /// @return id The new agreement's id; ids start at 1.
    function create(Terms calldata terms, Party[] calldata parties, Condition[] calldata conditions)
        external
        returns (uint256 id);

    /// @notice Accepts agreement `id` as the calling party and pays its deposit: `msg.value` for ether, or a
    ///         `transferFrom` of the token (approve the registry first). The last acceptance activates it.
    /// @param id The agreement, Proposed, before its start.
    function accept(uint256 id) external payable;

    /// @notice Cancels a Proposed agreement whose start came before every party accepted; the parties that
    ///         accepted withdraw their deposits. Anyone may call it.
    /// @param id The agreement.
    function cancel(uint256 id) external;

    /// @notice Proves a range breach: a reading of condition `condition` with a time in the period and a
    ///         value outside its bounds, in anchored batch `seq` of the condition's feed.
    /// @param id The agreement, Active.
    /// @param condition The condition's index.
    /// @param seq The batch holding the reading.
    /// @param header The batch's header.
    /// @param reading The reading's canonical DAG-CBOR bytes.
    /// @param proof The Merkle proof of the reading's leaf in the batch.
    function proveBreach(
        uint256 id,
        uint8 condition,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata header,
        bytes calldata reading,
        bytes32[] calldata proof
    ) external;

    /// @notice Proves a coverage gap before batch `seq` of the condition's feed: between the end of batch
    ///         `seq - 1` (`prev`, ignored for seq 0, whose gap starts at the period's start) and the start of
    ///         batch `seq` (`next`), clipped to the period, longer than the condition's `maxGapMs`.
    /// @param id The agreement, Active.
    /// @param condition The condition's index.
    /// @param seq The later batch.
    /// @param prev Header of batch `seq - 1`.
    /// @param next Header of batch `seq`.
    function proveGap(
        uint256 id,
        uint8 condition,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata prev,
        ISensorFeedProofs.BatchHeader calldata next
    ) external;

    /// @notice Shows that the condition's feed is covered up to the end: anchored batch `seq` ends at or after
    ///         `end - maxGapMs`. Settlement waits a challenge window after the last such proof.
    /// @param id The agreement, Active.
    /// @param condition The condition's index; it must have coverage.
    /// @param seq The batch.
    /// @param header The batch's header.
    function proveCoverage(uint256 id, uint8 condition, uint64 seq, ISensorFeedProofs.BatchHeader calldata header)
        external;

    /// @notice The confirming party records the delivery (DeliveryKind.Confirmation) before the deadline.
    /// @param id The agreement, Active.
    function confirmDelivery(uint256 id) external;

    /// @notice Records the delivery (DeliveryKind.ProgramDone) from a Done program call, before the deadline.
    ///         Anyone may call it.
    /// @param id The agreement, Active.
    /// @param callId The program call on the agreement's twin.
    function recordDeliveryCall(uint256 id, uint256 callId) external;

    /// @notice Records the delivery (DeliveryKind.Reading) from a proven reading, before the deadline. Anyone
    ///         may call it.
    /// @param id The agreement, Active.
    /// @param seq The batch holding the reading.
    /// @param header The batch's header.
    /// @param reading The reading's canonical DAG-CBOR bytes.
    /// @param proof The Merkle proof of the reading's leaf in the batch.
    function recordDeliveryReading(
        uint256 id,
        uint64 seq,
        ISensorFeedProofs.BatchHeader calldata header,
        bytes calldata reading,
        bytes32[] calldata proof
    ) external;

    /// @notice Settles agreement `id`: at once if breached; otherwise after the end and the challenge window
    ///         (counted from the end and from the last coverage proof). Anyone may call it, once.
    /// @param id The agreement, Active or Breached.
    /// @return outcome The outcome that selects the payouts.
    function settle(uint256 id) external returns (Outcome outcome);

    /// @notice Pays the calling party what the outcome gives it (its deposit back if cancelled).
    /// @param id The agreement, Settled or Cancelled.
    /// @return amount The amount paid.
    function withdraw(uint256 id) external returns (uint256 amount);

    /// @notice Everything about agreement `id` but its parties and conditions.
    function agreement(uint256 id) external view returns (AgreementView memory);

    /// @notice Party number `index` of agreement `id`, whether it accepted and whether it withdrew.
    function partyAt(uint256 id, uint8 index) external view returns (Party memory party, bool accepted, bool withdrawn);

    /// @notice Condition number `index` of agreement `id`, and the time (ms) its coverage was shown (0: not yet).
    function conditionAt(uint256 id, uint8 index) external view returns (Condition memory condition, uint64 coveredAt);

    /// @notice Number of agreements created so far (= the highest id).
    function agreementCount() external view returns (uint256);
}
