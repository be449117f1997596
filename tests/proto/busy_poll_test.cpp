// busy_poll: spinning must never lose a message or return early, and must
// fall back to the blocking wait once its budget is spent.
#include "proto/busy_poll.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

namespace waypoint {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

struct Pair {
  zmq::context_t context;
  zmq::socket_t receiver{context, zmq::socket_type::pair};
  zmq::socket_t sender{context, zmq::socket_type::pair};
  Pair() {
    receiver.bind("inproc://busy-poll");
    sender.connect("inproc://busy-poll");
  }
  zmq::pollitem_t item() { return {receiver.handle(), 0, ZMQ_POLLIN, 0}; }
};

TEST(proto_BusyPoll, AWaitingMessageIsSeenAtOnce) {
  Pair p;
  p.sender.send(zmq::str_buffer("step"), zmq::send_flags::none);
  zmq::pollitem_t item = p.item();
  // block 0: only the spin can have seen it (inproc delivery is synchronous).
  EXPECT_EQ(busy_poll(&item, 1, microseconds(1'000'000), milliseconds(0)), 1);
  EXPECT_TRUE(item.revents & ZMQ_POLLIN);
}

TEST(proto_BusyPoll, AMessageThatArrivesWhileSpinningEndsTheSpin) {
  Pair p;
  std::thread sender([&] {
    std::this_thread::sleep_for(milliseconds(2));
    p.sender.send(zmq::str_buffer("step"), zmq::send_flags::none);
  });
  zmq::pollitem_t item = p.item();
  const int ready = busy_poll(&item, 1, microseconds(10'000'000), milliseconds(0));
  sender.join();
  EXPECT_EQ(ready, 1);
  zmq::message_t m;
  ASSERT_TRUE(p.receiver.recv(m, zmq::recv_flags::dontwait));
  EXPECT_EQ(m.to_string_view(), "step");
}

TEST(proto_BusyPoll, AfterTheSpinItBlocksAsZmqPollDoes) {
  Pair p;
  zmq::pollitem_t item = p.item();
  EXPECT_EQ(busy_poll(&item, 1, microseconds(500), milliseconds(1)), 0) << "nothing was sent";

  std::thread sender([&] {
    std::this_thread::sleep_for(milliseconds(5));
    p.sender.send(zmq::str_buffer("late"), zmq::send_flags::none);
  });
  // No spin at all, and a spin far shorter than the wait: both end in the block.
  EXPECT_EQ(busy_poll(&item, 1, microseconds(0), milliseconds(-1)), 1);
  sender.join();
}

}  // namespace
}  // namespace waypoint
