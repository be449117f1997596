#include "engine_core/request.hpp"

namespace waypoint {

FinishReason finish_reason_of(RequestStatus s) {
  switch (s) {
    case RequestStatus::FINISHED_STOPPED:
      return FinishReason::STOP;
    case RequestStatus::FINISHED_LENGTH_CAPPED:
      return FinishReason::LENGTH;
    case RequestStatus::FINISHED_ABORTED:
      return FinishReason::ABORT;
    default:
      return FinishReason::ERROR;
  }
}

FinishStatus finish_status_of(RequestStatus s) {
  switch (s) {
    case RequestStatus::FINISHED_STOPPED:
      return FinishStatus::STOPPED;
    case RequestStatus::FINISHED_LENGTH_CAPPED:
      return FinishStatus::LENGTH;
    case RequestStatus::FINISHED_ABORTED:
      return FinishStatus::ABORTED;
    default:
      return FinishStatus::ERROR;
  }
}

}  // namespace waypoint
